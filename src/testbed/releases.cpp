#include "testbed/releases.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "log/log.hpp"
#include "queue/scheduler.hpp"
#include "smtp/address.hpp"
#include "store/durable_file.hpp"
#include "delivery/local_delivery.hpp"
#include "util/strings.hpp"

namespace postern::testbed {

namespace fs = std::filesystem;
using nlohmann::json;
using store::RecipientStatus;
using Clock = std::chrono::system_clock;

void check_release_request(const ReleaseRequest& request) {
  if (request.to.empty()) throw std::invalid_argument("to: give at least one recipient address");
  if (request.to.size() > Releases::max_recipients)
    throw std::invalid_argument("to: at most " + std::to_string(Releases::max_recipients) + " recipients, got " +
                                std::to_string(request.to.size()));
  for (const auto& address : request.to) {
    const auto parsed = smtp::parse_path("<" + address + ">");
    if (address.empty() || !parsed.path || parsed.consumed != address.size() + 2 || parsed.path->null ||
        parsed.path->postmaster || !parsed.path->source_route.empty())
      throw std::invalid_argument("to: not a mail address: " + util::printable(address, 100) +
                                  (parsed.error.empty() ? "" : " (" + parsed.error + ")"));
  }
  if (!request.server.empty() && !queue::parse_host_port(request.server))
    throw std::invalid_argument("server: expected HOST:PORT (or [IPv6]:PORT), got " +
                                util::printable(request.server, 100));
}

std::string_view to_string(ReleaseStatus status) {
  switch (status) {
    case ReleaseStatus::queued: return "queued";
    case ReleaseStatus::deferred: return "deferred";
    case ReleaseStatus::delivered: return "delivered";
    case ReleaseStatus::bounced: return "bounced";
  }
  return "?";
}

ReleaseStatus Release::status() const {
  const auto& r = recipients;
  if (!r.empty() && std::all_of(r.begin(), r.end(), [](const auto& s) { return s.status == RecipientStatus::delivered; }))
    return ReleaseStatus::delivered;
  if (!r.empty() && std::all_of(r.begin(), r.end(), [](const auto& s) { return s.final(); }))
    return ReleaseStatus::bounced;
  if (std::any_of(r.begin(), r.end(), [](const auto& s) { return s.status == RecipientStatus::deferred; }))
    return ReleaseStatus::deferred;
  return ReleaseStatus::queued;
}

unsigned Release::attempts() const {
  unsigned n = 0;
  for (const auto& s : recipients) n = std::max(n, s.attempts);
  return n;
}

std::string Release::last_reply() const {
  const store::RecipientState* latest = nullptr;
  for (const auto& s : recipients)
    if (s.attempts > 0 && (!latest || s.last_attempt > latest->last_attempt)) latest = &s;
  return latest ? latest->last_reply : "";
}

std::optional<Clock::time_point> Release::next_attempt() const {
  std::optional<Clock::time_point> next;
  for (const auto& s : recipients)
    if (s.status == RecipientStatus::deferred && (!next || s.next_attempt < *next)) next = s.next_attempt;
  return next;
}

namespace {

long long seconds_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
Clock::time_point from_seconds(long long s) { return Clock::time_point(std::chrono::seconds(s)); }

json stored(const Release& r) {
  json rcpts = json::array();
  for (const auto& s : r.recipients)
    rcpts.push_back({{"address", s.address},
                     {"status", std::string(store::to_string(s.status))},
                     {"attempts", s.attempts},
                     {"last_reply", s.last_reply},
                     {"last_attempt", seconds_of(s.last_attempt)},
                     {"next_attempt", seconds_of(s.next_attempt)}});
  return {{"id", r.id},         {"message", r.message_id},          {"sender", r.sender}, {"to", r.to},
          {"server", r.server}, {"created", seconds_of(r.created)}, {"recipients", rcpts}};
}

RecipientStatus status_named(const std::string& name) {
  for (auto s : {RecipientStatus::pending, RecipientStatus::deferred, RecipientStatus::delivered, RecipientStatus::bounced})
    if (store::to_string(s) == name) return s;
  return RecipientStatus::pending;
}

Release restored(const json& j) {
  Release r;
  r.id = j.at("id").get<std::string>();
  r.message_id = j.at("message").get<std::string>();
  r.sender = j.at("sender").get<std::string>();
  r.to = j.at("to").get<std::vector<std::string>>();
  r.server = j.at("server").get<std::string>();
  r.created = from_seconds(j.at("created").get<long long>());
  for (const auto& s : j.at("recipients")) {
    store::RecipientState st;
    st.address = s.at("address").get<std::string>();
    st.status = status_named(s.at("status").get<std::string>());
    st.attempts = s.at("attempts").get<unsigned>();
    st.last_reply = s.at("last_reply").get<std::string>();
    st.last_attempt = from_seconds(s.at("last_attempt").get<long long>());
    st.next_attempt = from_seconds(s.at("next_attempt").get<long long>());
    r.recipients.push_back(std::move(st));
  }
  return r;
}

}  // namespace

struct Releases::Queue {
  std::shared_ptr<const config::Config> config;
  delivery::LocalDelivery local;  // never used: the releases' config has no local domains
  queue::Scheduler scheduler;

  Queue(std::shared_ptr<const config::Config> c, store::Spool& spool, queue::Scheduler::Inject inject,
        queue::SchedulerOptions options)
      : config(c), local(c, spool, nullptr), scheduler(c, spool, local, std::move(inject), std::move(options)) {}
};

Releases::Releases(const config::Config& testbed, KeepDsn keep_dsn)
    : config_(std::make_shared<config::Config>(testbed)), keep_dsn_(std::move(keep_dsn)) {
  // Every release goes out over SMTP: no recipient is ours to deliver.
  config_->data_dir = testbed.data_dir / "releases";
  config_->local_domains.clear();
  config_->aliases_file.clear();
  store::create_directories_durably(config_->data_dir);
  spool_ = std::make_unique<store::Spool>(config_->data_dir / "spool");
  spool_->recover();
  load_index();
}

Releases::~Releases() { stop(); }

void Releases::start() {
  if (queue_) return;
  queue::SchedulerOptions options;
  options.smtp.mx_port = queue::mx_port_from_environment();
  // A test's peer answers at once or not at all: no need to wait minutes.
  options.smtp.connect_timeout = std::chrono::seconds(10);
  options.smtp.command_timeout = std::chrono::seconds(60);
  options.smtp.data_timeout = std::chrono::seconds(60);
  options.smtp.route_override = [this](std::string_view id) { return route_of(id); };
  options.on_recorded = [this](const std::string& id, const std::vector<store::RecipientState>& states) {
    recorded(id, states);
  };
  auto inject = [this](const store::Envelope& e, std::string_view m) { return keep_dsn_(e, m); };
  queue_ = std::make_unique<Queue>(config_, *spool_, std::move(inject), std::move(options));
  queue_->scheduler.start();
}

void Releases::stop() {
  if (queue_) queue_->scheduler.stop();
}

void Releases::on_change(std::function<void()> listener) {
  std::lock_guard lock(mutex_);
  on_change_ = std::move(listener);
}

Release Releases::release(const std::string& message_id, const std::string& sender, std::string_view message,
                          const ReleaseRequest& request) {
  check_release_request(request);
  store::Envelope envelope;
  envelope.reverse_path = sender;
  envelope.recipients = request.to;
  envelope.client_address = "127.0.0.1";
  envelope.client_helo = config_->hostname;
  envelope.received_at = Clock::now();
  envelope.smtputf8 = std::any_of(request.to.begin(), request.to.end(), [](const std::string& a) {
    return std::any_of(a.begin(), a.end(), [](char c) { return static_cast<unsigned char>(c) > 127; });
  });
  Release r;
  r.id = store::Spool::new_id();
  r.message_id = message_id;
  r.sender = sender;
  r.to = request.to;
  r.server = request.server;
  r.created = envelope.received_at;
  for (const auto& a : request.to) {
    store::RecipientState state;
    state.address = a;
    r.recipients.push_back(std::move(state));
  }
  {
    // Known (with its route) before the scheduler can see it; counted and
    // added under one lock, so concurrent releases never pass the cap together.
    std::lock_guard lock(mutex_);
    const auto open = std::count_if(releases_.begin(), releases_.end(), [](const Release& x) {
      const auto s = x.status();
      return s == ReleaseStatus::queued || s == ReleaseStatus::deferred;
    });
    if (static_cast<std::size_t>(open) >= max_releases)
      throw Busy(std::to_string(max_releases) + " releases are under way already; try again when some have finished");
    releases_.push_back(r);
    while (releases_.size() > max_releases) {
      auto done = std::find_if(releases_.begin(), releases_.end(), [](const Release& x) {
        const auto s = x.status();
        return s == ReleaseStatus::delivered || s == ReleaseStatus::bounced;
      });
      if (done == releases_.end()) break;
      releases_.erase(done);
    }
    save_index();
  }
  try {
    spool_->put(envelope, message, r.id);
  } catch (...) {
    std::lock_guard lock(mutex_);
    std::erase_if(releases_, [&](const Release& x) { return x.id == r.id; });
    save_index();
    throw;
  }
  log::Event("testbed_release")
      .add("release", r.id)
      .add("message", message_id)
      .add("recipients", static_cast<long long>(r.to.size()))
      .add("server", r.server.empty() ? "routes/MX" : r.server);
  if (queue_) queue_->scheduler.submit(r.id);
  return r;
}

std::vector<Release> Releases::of_message(const std::string& message_id) const {
  std::lock_guard lock(mutex_);
  std::vector<Release> out;
  for (const auto& r : releases_)
    if (r.message_id == message_id) out.push_back(r);
  return out;
}

std::optional<Release> Releases::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& r : releases_)
    if (r.id == id) return r;
  return std::nullopt;
}

void Releases::recorded(const std::string& id, const std::vector<store::RecipientState>& states) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(releases_.begin(), releases_.end(), [&](const Release& r) { return r.id == id; });
    if (it == releases_.end()) return;
    it->recipients = states;
    save_index();
    notify = on_change_;
  }
  if (notify) notify();
}

std::optional<queue::Route> Releases::route_of(std::string_view id) const {
  std::string server;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(releases_.begin(), releases_.end(), [&](const Release& r) { return r.id == id; });
    if (it == releases_.end() || it->server.empty()) return std::nullopt;
    server = it->server;
  }
  const auto hp = queue::parse_host_port(server);
  if (!hp) return std::nullopt;
  queue::Route route;
  route.kind = queue::Route::Kind::route;
  route.host = hp->first;
  route.port = hp->second;
  route.key = "route:" + route.host + ":" + std::to_string(route.port);
  return route;
}

void Releases::load_index() {
  const auto path = config_->data_dir / "releases.json";
  std::ifstream in(path);
  if (!in) return;
  std::stringstream text;
  text << in.rdbuf();
  try {
    const json all = json::parse(text.str());
    for (const auto& j : all.at("releases")) releases_.push_back(restored(j));
  } catch (const std::exception& e) {
    log::Event("warning").add("message", "releases.json unreadable, release states start empty").add("error", e.what());
    releases_.clear();
  }
}

void Releases::save_index() {
  json all = json::array();
  for (const auto& r : releases_) all.push_back(stored(r));
  try {
    store::write_durably(config_->data_dir / "releases.json", json{{"releases", all}}.dump(), 0600);
  } catch (const std::exception& e) {
    log::Event("queue_error").add("error", std::string("releases.json: ") + e.what());
  }
}

}  // namespace postern::testbed
