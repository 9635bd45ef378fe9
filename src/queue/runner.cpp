#include "queue/runner.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "client/auth.hpp"
#include "client/session.hpp"
#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "queue/dsn.hpp"
#include "queue/loop.hpp"
#include "queue/route.hpp"
#include "queue/schedule.hpp"
#include "smtp/data_decoder.hpp"
#include "smtp/reply.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

#if __has_include("explain/explain.hpp")
#include "explain/explain.hpp"
#define POSTERN_HAVE_EXPLAIN 1
#endif

namespace postern::queue {

namespace fs = std::filesystem;
using store::RecipientStatus;


namespace {

constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// A short meaning of the reply for people (DSN text), when the knowledge
// base is built in.
std::string explain_reply(const smtp::Reply& r) {
#ifdef POSTERN_HAVE_EXPLAIN
  try {
    return explain::short_meaning(r.code, r.enhanced, r.text());
  } catch (...) {
  }
#else
  (void)r;
#endif
  return {};
}

// What happened to one recipient in one attempt.
struct Outcome {
  enum class Kind { delivered, deferred, bounced } kind = Kind::deferred;
  std::string reply;        // "450 4.2.0 ..." or our own text
  std::string status;       // enhanced code for the DSN
  bool smtp_reply = false;  // `reply` came from a server
  std::string remote_mta;   // host name of the server that answered
  std::string explanation;
};

Outcome from_reply(const smtp::Reply& r, const std::string& remote) {
  Outcome o;
  o.kind = r.positive() ? Outcome::Kind::delivered : r.permanent() ? Outcome::Kind::bounced : Outcome::Kind::deferred;
  o.reply = r.summary();
  o.status = status_for(r.code, r.enhanced);
  o.smtp_reply = true;
  o.remote_mta = remote;
  o.explanation = explain_reply(r);
  return o;
}

Outcome from_error(const client::Error& e, const std::string& remote) {
  // TLS trouble, a protocol hiccup or a refused smarthost login (even a
  // 535) is our configuration or their hiccup, not the recipient's fault:
  // keep the mail.
  const bool keep = e.kind == client::Error::Kind::certificate || e.kind == client::Error::Kind::tls ||
                    e.kind == client::Error::Kind::no_tls || e.kind == client::Error::Kind::protocol ||
                    e.kind == client::Error::Kind::auth;
  if (e.reply && !e.reply->positive()) {
    Outcome o = from_reply(*e.reply, remote);
    if (o.kind == Outcome::Kind::delivered || keep) o.kind = Outcome::Kind::deferred;
    return o;
  }
  Outcome o;
  o.kind = e.temporary() || keep ? Outcome::Kind::deferred : Outcome::Kind::bounced;
  o.reply = remote.empty() ? e.message : remote + ": " + e.message;
  switch (e.kind) {
    case client::Error::Kind::refused: o.status = "4.4.1"; break;
    case client::Error::Kind::timeout: o.status = "4.4.2"; break;
    case client::Error::Kind::dropped: o.status = "4.4.2"; break;
    case client::Error::Kind::unsupported: o.status = "5.6.7"; break;
    case client::Error::Kind::tls:
    case client::Error::Kind::certificate:
    case client::Error::Kind::no_tls: o.status = "4.7.5"; break;
    case client::Error::Kind::auth: o.status = "4.7.0"; break;
    default: o.status = o.kind == Outcome::Kind::bounced ? "5.4.0" : "4.4.0";
  }
  o.remote_mta = remote;
  return o;
}

struct Job {
  std::string id;
  std::vector<std::size_t> rcpts;  // indexes into the entry's recipients
};

struct Destination {
  Route route;
  std::deque<Job> jobs;
  unsigned active = 0;
  unsigned failures = 0;  // consecutive failures to reach it
  Clock::time_point not_before{};
};

// One host:port to connect to, with the name it goes by.
struct Hop {
  std::string name;     // MX host or route host (Remote-MTA, SNI)
  std::string address;  // what to connect to
  std::uint16_t port = 25;
};

}  // namespace

struct Runner::Impl {
  Impl(const config::Config& c, store::Spool& s, Inject inj, IsLocal local, RunnerOptions o)
      : config(c), spool(s), inject(std::move(inj)), is_local(std::move(local)), options(o),
        schedule(Schedule::from(c.queue)), scan_timer(io), rng(std::random_device{}()) {
    if (!is_local) is_local = [this](std::string_view a) { return config.delivers_locally(a); };
  }

  config::Config config;
  store::Spool& spool;
  Inject inject;
  IsLocal is_local;
  RunnerOptions options;
  Schedule schedule;

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::unique_ptr<dns::Resolver> resolver;
  std::shared_ptr<asio::ssl::context> tls;
  asio::steady_timer scan_timer;
  std::mt19937_64 rng;
  bool stopping = false;

  // Runner-thread state.
  std::map<std::string, Clock::time_point> due;  // known ids with remote work → when to look again
  std::set<std::string> idle;                    // ids with nothing for us (re-checked now and then)
  std::set<std::string> busy;                    // ids with a job queued or in flight
  std::map<std::string, Destination> dests;
  unsigned connections = 0;
  Clock::time_point last_idle_sweep{};

  mutable std::mutex stats_mutex;
  RunnerStats counters;

  void count(std::uint64_t RunnerStats::*field, std::uint64_t n = 1) {
    std::lock_guard lock(stats_mutex);
    counters.*field += n;
  }

  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  // ------------------------------------------------------------ scanning

  void schedule_scan(std::chrono::milliseconds in) {
    scan_timer.expires_after(in);
    scan_timer.async_wait([this](asio::error_code ec) {
      if (ec || stopping) return;
      scan();
    });
  }

  void take_retry_requests() {
    std::error_code ec;
    fs::directory_iterator it(retry_dir(config), ec), end;
    if (ec) return;
    std::vector<std::string> names;
    for (; it != end; it.increment(ec)) {
      if (ec) break;
      names.push_back(it->path().filename().string());
    }
    for (const auto& name : names) {
      fs::remove(retry_dir(config) / name, ec);
      std::vector<std::string> ids;
      if (name == "all")
        ids = spool.list();
      else if (store::Spool::valid_id(name))
        ids.push_back(name);
      else
        continue;
      auto now = Clock::now();
      for (const auto& id : ids) {
        try {
          spool.update(id, [&](std::vector<store::RecipientState>& states) {
            for (auto& s : states)
              if (s.status == RecipientStatus::deferred && !is_local(s.address)) s.next_attempt = now;
          });
        } catch (const std::exception& e) {
          log::Event("queue_error").add("queue_id", id).add("error", e.what());
        }
        idle.erase(id);
        due[id] = now;
      }
      for (auto& [key, d] : dests) {
        d.not_before = {};
        d.failures = 0;
      }
      log::Event("queue_retry").add("request", name).add("messages", static_cast<long long>(ids.size()));
    }
  }

  void scan() {
    if (stopping) return;
    auto now = Clock::now();
    take_retry_requests();
    // New entries (accepted before a restart, or missed) and vanished ones.
    std::vector<std::string> ids;
    try {
      ids = spool.list();
    } catch (const std::exception& e) {
      log::Event("queue_error").add("error", e.what());
    }
    std::set<std::string> present(ids.begin(), ids.end());
    for (auto it = due.begin(); it != due.end();) it = present.count(it->first) ? std::next(it) : due.erase(it);
    for (auto it = idle.begin(); it != idle.end();) it = present.count(*it) ? std::next(it) : idle.erase(it);
    if (now - last_idle_sweep > std::chrono::seconds(5)) {
      // Entries local delivery was busy with may have become ours to finish.
      idle.clear();
      last_idle_sweep = now;
    }
    for (const auto& id : ids)
      if (!due.count(id) && !idle.count(id) && !busy.count(id)) due[id] = now;

    for (auto it = due.begin(); it != due.end();) {
      if (it->second > now || busy.count(it->first)) {
        ++it;
        continue;
      }
      std::string id = it->first;
      it = due.erase(it);
      examine(id, now);
    }
    dispatch();
    // Next scan: at the earliest due time, at most scan_interval away.
    auto next = options.scan_interval;
    for (auto& [id, when] : due) {
      auto d = std::chrono::duration_cast<std::chrono::milliseconds>(when - now);
      if (d < next) next = std::max(d, std::chrono::milliseconds(10));
    }
    schedule_scan(next);
  }

  // Looks at one entry: queues its due remote recipients per destination,
  // or finishes it when every recipient is final.
  void examine(const std::string& id, Clock::time_point now) {
    std::optional<store::SpoolEntry> entry;
    try {
      entry = spool.load(id);
    } catch (const std::exception& e) {
      log::Event("queue_error").add("queue_id", id).add("error", e.what());
      due[id] = now + std::chrono::seconds(5);
      return;
    }
    if (!entry) return;
    bool all_final = true, ours = false;
    std::optional<Clock::time_point> later;
    std::map<std::string, Job> jobs;
    for (std::size_t i = 0; i < entry->recipients.size(); ++i) {
      const auto& r = entry->recipients[i];
      if (r.final()) continue;
      all_final = false;
      if (is_local(r.address)) continue;
      ours = true;
      if (r.status == RecipientStatus::deferred && r.next_attempt > now) {
        if (!later || r.next_attempt < *later) later = r.next_attempt;
        continue;
      }
      Route route = route_for(config.relay, domain_of(config.final_recipient(r.address)), options.mx_port);
      auto& job = jobs[route.key];
      job.id = id;
      job.rcpts.push_back(i);
      auto& d = dests[route.key];
      d.route = route;
    }
    if (all_final) {
      finish(*entry);
      return;
    }
    if (!ours) {
      idle.insert(id);
      return;
    }
    if (later) due[id] = *later;
    if (!jobs.empty()) busy.insert(id);
    for (auto& [key, job] : jobs) {
      dests[key].jobs.push_back(std::move(job));
      pending_jobs[id]++;
    }
  }
  std::map<std::string, unsigned> pending_jobs;  // id → jobs queued or in flight

  void job_done(const std::string& id) {
    if (--pending_jobs[id] == 0) {
      pending_jobs.erase(id);
      busy.erase(id);
      if (!due.count(id)) due[id] = Clock::now();  // look again: maybe finished, maybe due later
    }
  }

  // Every recipient is final: report local bounces (ours were reported when
  // they happened) and remove the entry.
  void finish(const store::SpoolEntry& entry) {
    std::vector<DsnRecipient> bounced;
    for (const auto& r : entry.recipients) {
      if (r.status != RecipientStatus::bounced || !is_local(r.address)) continue;
      auto [code, rest] = parse_summary(r.last_reply);
      DsnRecipient d;
      d.address = r.address;
      d.action = DsnAction::failed;
      d.status = code ? status_for(code, rest) : "5.0.0";
      d.diagnostic = r.last_reply.empty() ? "delivery failed" : r.last_reply;
      d.diagnostic_is_smtp = code != 0;
      d.last_attempt = r.last_attempt;
      bounced.push_back(std::move(d));
    }
    if (!bounced.empty() && !send_dsn(entry, bounced)) return;  // keep it; try again later
    try {
      spool.remove(entry.id);
    } catch (const std::exception& e) {
      log::Event("queue_error").add("queue_id", entry.id).add("error", e.what());
    }
  }

  // "550 5.1.1 text" → (550, "5.1.1").
  static std::pair<int, std::string> parse_summary(std::string_view s) {
    if (s.size() < 3 || !std::isdigit(static_cast<unsigned char>(s[0])) ||
        !std::isdigit(static_cast<unsigned char>(s[1])) || !std::isdigit(static_cast<unsigned char>(s[2])))
      return {0, {}};
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (s.size() > 4 && s[3] == ' ') {
      auto [enh, text] = smtp::split_enhanced(code, s.substr(4));
      return {code, enh};
    }
    return {code, {}};
  }

  // Builds and stores a DSN to the entry's sender. False when it could not
  // be stored (the caller leaves the recipients as they were).
  bool send_dsn(const store::SpoolEntry& entry, const std::vector<DsnRecipient>& recipients) {
    if (!is_bounceable(entry.envelope.reverse_path)) {
      // RFC 5321 §4.5.5: never a bounce to the null reverse-path.
      log::Event("dsn_suppressed").add("queue_id", entry.id).add("reason", "null reverse-path");
      return true;
    }
    DsnReport report;
    report.reporting_mta = config.hostname;
    report.queue_id = entry.id;
    report.original_sender = entry.envelope.reverse_path;
    report.arrival = entry.envelope.received_at;
    report.now = Clock::now();
    report.recipients = recipients;
    try {
      auto message = spool.message(entry.id);
      if (message) report.original_message = *message;
      store::Envelope env;
      env.reverse_path = "";
      env.recipients = {entry.envelope.reverse_path};
      env.client_address = "127.0.0.1";
      env.client_helo = config.hostname;
      env.received_at = report.now;
      std::string dsn = build_dsn(report);
      std::string dsn_id = inject(env, dsn);
      count(&RunnerStats::dsns);
      log::Event("dsn").add("queue_id", entry.id).add("dsn_queue_id", dsn_id)
          .add("to", "<" + entry.envelope.reverse_path + ">")
          .add("action", recipients.front().action == DsnAction::delayed ? "delayed" : "failed")
          .add("recipients", static_cast<long long>(recipients.size()));
      return true;
    } catch (const std::exception& e) {
      log::Event("dsn_error").add("queue_id", entry.id).add("error", e.what());
      return false;
    }
  }

  // ------------------------------------------------------------ delivery

  void dispatch() {
    auto now = Clock::now();
    for (auto& [key, d] : dests) {
      while (!d.jobs.empty() && d.active < options.per_destination && connections < options.max_connections &&
             now >= d.not_before && !stopping) {
        // One connection per queued job at most: don't open 4 for 1 message.
        if (d.active > 0 && d.jobs.size() <= d.active) break;
        ++d.active;
        ++connections;
        asio::co_spawn(io, work_destination(key), [key = key](std::exception_ptr e) {
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              log::Event("queue_bug").add("destination", key).add("error", ex.what());
            }
          }
        });
      }
    }
  }

  asio::awaitable<std::vector<Hop>> hops_for(const Route& route, std::optional<Outcome>& failure) {
    std::vector<Hop> hops;
    if (route.kind != Route::Kind::mx) {
      asio::error_code ec;
      auto literal = asio::ip::make_address(route.host, ec);
      if (!ec) {
        hops.push_back({route.host, literal.to_string(), route.port});
        co_return hops;
      }
      auto a = co_await resolver->resolve_host(route.host);
      if (a.outcome != dns::Outcome::ok) {
        failure = Outcome{};
        failure->kind = Outcome::Kind::deferred;  // a configured route: never bounce on DNS
        failure->reply = a.error;
        failure->status = "4.4.3";
        co_return hops;
      }
      for (auto& addr : a.addresses) hops.push_back({route.host, addr.to_string(), route.port});
      co_return hops;
    }
    auto dest = co_await resolver->resolve_mail_domain(route.host);
    if (dest.outcome != dns::Outcome::ok) {
      failure = Outcome{};
      failure->kind = dest.outcome == dns::Outcome::temporary ? Outcome::Kind::deferred : Outcome::Kind::bounced;
      failure->reply = dest.error;
      failure->status = dest.enhanced;
      co_return hops;
    }
    for (auto& t : dest.targets)
      for (auto& addr : t.addresses) hops.push_back({t.host, addr.to_string(), route.port});
    co_return hops;
  }

  // Never deliver to ourselves: hops that are our own listeners are
  // dropped; when none is left the mail loops and bounces (5.4.6).
  void drop_own_listeners(const Route& route, std::vector<Hop>& hops, std::optional<Outcome>& failure) {
    const auto before = hops.size();
    std::erase_if(hops, [&](const Hop& h) {
      asio::error_code ec;
      auto a = asio::ip::make_address(h.address, ec);
      return !ec && is_own_listener(config.listeners, a, h.port);
    });
    if (before == 0 || !hops.empty()) return;
    failure = Outcome{};
    failure->kind = Outcome::Kind::bounced;
    failure->reply = "mail for " + route.host + " loops back to myself";
    failure->status = "5.4.6";
    log::Event("loop").add("destination", route.key).add("error", failure->reply);
  }

  client::Options session_options(const Hop& hop, const Route& route) {
    client::Options o;
    o.host = hop.address;
    o.port = std::to_string(hop.port);
    o.server_name = hop.name;
    o.helo_name = config.hostname;
    o.connect_timeout = options.connect_timeout;
    o.command_timeout = options.command_timeout;
    o.data_timeout = options.data_timeout;
    if (route.kind == Route::Kind::smarthost) {
      // The smarthost gets our password: TLS as [relay] smarthost_tls says
      // (implicit on port 465, RFC 8314), verified against its name by default.
      const auto mode = config.relay.smarthost_tls;
      o.tls = mode == config::SmarthostTls::none ? client::TlsMode::none
              : hop.port == 465                  ? client::TlsMode::implicit
                                                 : client::TlsMode::starttls;
      o.verify_certificate = mode == config::SmarthostTls::verify;
      o.ca_file = config.relay.smarthost_ca.string();
      return o;  // its own context, with the trust anchors it needs
    }
    o.tls = client::TlsMode::automatic;  // MX and routes: opportunistic STARTTLS (RFC 3207 §4; RFC 7435)
    o.verify_certificate = false;
    o.tls_context = tls;
    return o;
  }

  // One line per outbound connection: was TLS used, and was it verified.
  void log_connection(const std::string& key, const Hop& hop, const client::Session& s, const client::Options& o) {
    log::Event("relay_connect")
        .add("destination", key)
        .add("relay", hop.name + "[" + hop.address + "]:" + std::to_string(hop.port))
        .add("tls", s.tls_active() ? s.tls_description() : std::string("none"))
        .add("verified", s.tls_active() && o.verify_certificate ? "yes" : "no");
  }

  // RFC 4954 AUTH to the smarthost with smarthost_user and the first line
  // of smarthost_password_file (read at each connection, so a changed
  // password needs no restart), only over what smarthost_tls allows.
  asio::awaitable<std::optional<client::Error>> authenticate_smarthost(client::Session& s, const Hop& hop) {
    client::AuthRequest req;
    req.user = config.relay.smarthost_user;
    std::ifstream in(config.relay.smarthost_password_file);
    if (!in || !std::getline(in, req.password)) {
      co_return client::Error{client::Error::Kind::auth,
                              "cannot read relay.smarthost_password_file " +
                                  config.relay.smarthost_password_file.string(),
                              std::nullopt};
    }
    while (!req.password.empty() && (req.password.back() == '\r' || req.password.back() == '\n'))
      req.password.pop_back();
    // smarthost_tls = "none" is the operator's word that clear text will do.
    req.allow_cleartext = config.relay.smarthost_tls == config::SmarthostTls::none;
    std::string used;
    auto err = co_await client::authenticate(s, req, &used);
    if (!err) log::Event("smarthost_auth").add("relay", hop.name).add("mechanism", used);
    co_return err;
  }

  asio::awaitable<void> work_destination(std::string key) {
    Destination& d = dests[key];
    Route route = d.route;
    std::optional<Outcome> failure;
    std::vector<Hop> hops;
    if (!stopping) hops = co_await hops_for(route, failure);
    if (!failure) drop_own_listeners(route, hops, failure);
    std::unique_ptr<client::Session> session;
    Hop used;
    if (!failure) {
      std::optional<Outcome> last;
      for (const auto& hop : hops) {
        if (stopping) break;
        const auto o = session_options(hop, route);
        auto s = std::make_unique<client::Session>(io.get_executor(), o);
        auto err = co_await s->open();
        count(&RunnerStats::connections);
        if (!err) log_connection(key, hop, *s, o);
        if (!err && route.kind == Route::Kind::smarthost && !config.relay.smarthost_user.empty())
          err = co_await authenticate_smarthost(*s, hop);
        if (!err) {
          session = std::move(s);
          used = hop;
          break;
        }
        log::Event("connect_failed").add("destination", key).add("relay", hop.name + "[" + hop.address + "]:" +
                                                                              std::to_string(hop.port))
            .add("error", err->reply ? err->reply->summary() : err->message);
        last = from_error(*err, hop.name);
        // RFC 5321 §5.1: try the next address or MX host.
      }
      if (!session) {
        failure = last ? *last : Outcome{};
        if (!last) {
          failure->reply = route.host + ": no address to connect to";
          failure->status = "4.4.1";
        }
        // A refusal from every host (5xx greeting) is final; anything else is not.
        if (failure->kind == Outcome::Kind::bounced && !failure->smtp_reply) failure->kind = Outcome::Kind::deferred;
      }
    }
    if (failure) {
      // Nobody to talk to: every job for this destination waits a step.
      if (failure->kind == Outcome::Kind::deferred) {
        ++d.failures;
        auto step = client::RetrySchedule::backoff(schedule.retry, d.failures);
        d.not_before = Clock::now() + step;
      }
      std::deque<Job> jobs;
      jobs.swap(d.jobs);
      for (auto& job : jobs) {
        std::vector<Outcome> outcomes(job.rcpts.size(), *failure);
        apply(job, outcomes);
        job_done(job.id);
      }
      --d.active;
      --connections;
      co_return;
    }
    d.failures = 0;
    d.not_before = {};
    unsigned sent = 0;
    while (!d.jobs.empty() && !stopping && sent < options.max_messages_per_connection) {
      Job job = std::move(d.jobs.front());
      d.jobs.pop_front();
      ++sent;
      bool broken = co_await deliver_one(*session, used, job);
      job_done(job.id);
      if (broken) break;
    }
    if (session) co_await session->quit();
    --d.active;
    --connections;
    if (!d.jobs.empty() && !stopping) dispatch();
  }

  // One message over an open session; true when the connection is unusable.
  asio::awaitable<bool> deliver_one(client::Session& session, const Hop& hop, const Job& job) {
    std::optional<store::SpoolEntry> entry;
    std::optional<std::string> message;
    try {
      entry = spool.load(job.id);
      if (entry) message = spool.message(job.id);
    } catch (const std::exception& e) {
      log::Event("queue_error").add("queue_id", job.id).add("error", e.what());
    }
    if (!entry || !message) co_return false;  // deleted meanwhile (`postern queue delete`)
    // RFC 5321 §6.3: a message past the hop limit is looping; bounce it.
    if (const unsigned hops = smtp::count_received(*message); hops > max_hops) {
      Outcome o;
      o.kind = Outcome::Kind::bounced;
      o.reply = "554 5.4.6 Too many hops (" + std::to_string(hops) + " Received: fields), mail loops";
      o.status = "5.4.6";
      log::Event("loop").add("queue_id", job.id).add("received", static_cast<long long>(hops));
      apply(job, std::vector<Outcome>(job.rcpts.size(), o));
      co_return false;
    }
    client::Transaction tx;
    tx.reverse_path = entry->envelope.reverse_path;
    for (auto i : job.rcpts) tx.recipients.push_back(config.final_recipient(entry->recipients.at(i).address));
    tx.message = std::move(*message);

    fs::path marker = inflight_dir(config) / (job.id + "." + util::random_hex(4));
    { std::ofstream(marker) << hop.name << "\n"; }
    client::Delivery out;
    auto err = co_await session.send(tx, out);
    std::vector<Outcome> outcomes;
    for (std::size_t i = 0; i < job.rcpts.size(); ++i) {
      if (auto r = out.outcome(i)) {
        outcomes.push_back(from_reply(*r, hop.name));
      } else if (err) {
        outcomes.push_back(from_error(*err, hop.name));
        if (outcomes.back().kind == Outcome::Kind::delivered) outcomes.back().kind = Outcome::Kind::deferred;
      } else {
        Outcome o;
        o.reply = hop.name + ": transaction ended without a reply for this recipient";
        o.status = "4.4.2";
        outcomes.push_back(o);
      }
    }
    apply(job, outcomes);
    std::error_code ec;
    fs::remove(marker, ec);
    co_return err.has_value();
  }

  // Records outcomes: DSN first for bounces (so a crash cannot lose the
  // report), then the spool state.
  void apply(const Job& job, std::vector<Outcome> outcomes) {
    std::optional<store::SpoolEntry> entry;
    try {
      entry = spool.load(job.id);
    } catch (const std::exception& e) {
      log::Event("queue_error").add("queue_id", job.id).add("error", e.what());
      return;
    }
    if (!entry) return;
    auto now = Clock::now();
    const auto arrival = entry->envelope.received_at;
    std::vector<DsnRecipient> bounces;
    for (std::size_t k = 0; k < job.rcpts.size(); ++k) {
      auto& o = outcomes[k];
      const auto& r = entry->recipients.at(job.rcpts[k]);
      if (o.kind == Outcome::Kind::deferred && schedule.expired(arrival, now)) {
        // RFC 3463 4.4.7: delivery time expired.
        o.kind = Outcome::Kind::bounced;
        o.status = "4.4.7";
        o.reply = o.reply + " (gave up after " + client::describe(std::chrono::duration_cast<std::chrono::seconds>(
                                                      now - arrival)) + ")";
      }
      if (o.kind == Outcome::Kind::bounced) {
        DsnRecipient d;
        d.address = r.address;
        d.action = DsnAction::failed;
        d.status = o.status.empty() ? "5.0.0" : o.status;
        d.remote_mta = o.smtp_reply ? o.remote_mta : "";
        d.diagnostic = o.reply;
        d.diagnostic_is_smtp = o.smtp_reply;
        d.explanation = o.explanation;
        d.last_attempt = now;
        bounces.push_back(std::move(d));
      }
    }
    if (!bounces.empty() && !send_dsn(*entry, bounces)) {
      // Could not store the report: keep those recipients deferred.
      for (auto& o : outcomes)
        if (o.kind == Outcome::Kind::bounced) o.kind = Outcome::Kind::deferred;
    }
    std::optional<std::vector<store::RecipientState>> states;
    try {
      states = spool.update(job.id, [&](std::vector<store::RecipientState>& s) {
        for (std::size_t k = 0; k < job.rcpts.size(); ++k) {
          auto& st = s.at(job.rcpts[k]);
          const auto& o = outcomes[k];
          st.last_reply = o.reply;
          st.last_attempt = now;
          switch (o.kind) {
            case Outcome::Kind::delivered:
              st.status = RecipientStatus::delivered;
              ++st.attempts;
              break;
            case Outcome::Kind::bounced:
              st.status = RecipientStatus::bounced;
              ++st.attempts;
              break;
            case Outcome::Kind::deferred:
              st.status = RecipientStatus::deferred;
              ++st.attempts;
              st.next_attempt = schedule.next_attempt(st.attempts, o.reply, arrival, now, uniform());
              break;
          }
        }
      });
    } catch (const std::exception& e) {
      log::Event("queue_error").add("queue_id", job.id).add("error", e.what());
    }
    for (std::size_t k = 0; k < job.rcpts.size(); ++k) {
      const auto& o = outcomes[k];
      const char* status = o.kind == Outcome::Kind::delivered ? "sent"
                           : o.kind == Outcome::Kind::bounced ? "bounced"
                                                              : "deferred";
      log::Event ev("delivery");
      ev.add("queue_id", job.id).add("to", "<" + entry->recipients.at(job.rcpts[k]).address + ">");
      if (!o.remote_mta.empty()) ev.add("relay", o.remote_mta);
      ev.add("status", status).add("reply", o.reply);
      if (o.kind == Outcome::Kind::deferred && states)
        ev.add("retry_in", static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                                      states->at(job.rcpts[k]).next_attempt - now)
                                                      .count()));
      ev.emit();
      count(o.kind == Outcome::Kind::delivered ? &RunnerStats::delivered
            : o.kind == Outcome::Kind::bounced ? &RunnerStats::bounced
                                               : &RunnerStats::deferred);
    }
  }

  // ------------------------------------------------------------ lifecycle

  void recover_inflight() {
    std::error_code ec;
    fs::create_directories(inflight_dir(config), ec);
    fs::create_directories(retry_dir(config), ec);
    std::uint64_t n = 0;
    std::vector<fs::path> markers;
    for (fs::directory_iterator it(inflight_dir(config), ec), end; !ec && it != end; it.increment(ec))
      markers.push_back(it->path());
    for (auto& m : markers) {
      ++n;
      log::Event("queue_recover").add("queue_id", m.stem().string()).add("possible_duplicate", 1);
      fs::remove(m, ec);
    }
    if (n) {
      count(&RunnerStats::possible_duplicates, n);
      log::Event("queue_recover").add("possible_duplicates", static_cast<long long>(n));
    }
  }
};

Runner::Runner(const config::Config& config, store::Spool& spool, Inject inject, IsLocal is_local,
               RunnerOptions options)
    : impl_(std::make_shared<Impl>(config, spool, std::move(inject), std::move(is_local), options)) {}

Runner::~Runner() { stop(); }

void Runner::start() {
  auto& i = *impl_;
  if (i.thread.joinable()) return;
  i.resolver = std::make_unique<dns::Resolver>(i.io.get_executor(), i.config.relay.dns_servers, i.options.dns_timeout);
  i.tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  i.tls->set_verify_mode(asio::ssl::verify_none);
  i.recover_inflight();
  i.work.emplace(i.io.get_executor());
  Impl* impl = impl_.get();
  asio::post(i.io, [impl] { impl->scan(); });
  i.thread = std::thread([impl] {
    try {
      impl->io.run();
    } catch (const std::exception& e) {
      log::Event("queue_bug").add("error", e.what());
    }
  });
  log::Event("queue_start").add("retry_initial", static_cast<long long>(i.config.queue.retry_initial.count()))
      .add("retry_max", static_cast<long long>(i.config.queue.retry_max.count()))
      .add("lifetime", static_cast<long long>(i.config.queue.lifetime.count()));
}

void Runner::submit(const std::string& id) {
  asio::post(impl_->io, [impl = impl_.get(), id] {
    if (impl->stopping) return;
    impl->idle.erase(id);
    if (!impl->busy.count(id)) impl->due[id] = Clock::now();
    impl->scan_timer.cancel();
    impl->scan();
  });
}

void Runner::reload(const config::Config& config) {
  asio::post(impl_->io, [impl = impl_.get(), config] {
    // Coroutines in flight hold no reference into `config` across a
    // suspension, so replacing it here, on the runner's thread, is safe.
    impl->config = config;
    impl->schedule = Schedule::from(config.queue);
    if (impl->stopping) return;
    // Every known entry is looked at again under the new routes and domains.
    for (auto& id : impl->idle) impl->due[id] = Clock::now();
    impl->idle.clear();
    impl->scan_timer.cancel();
    impl->scan();
  });
}

void Runner::wake() {
  asio::post(impl_->io, [impl = impl_.get()] {
    if (impl->stopping) return;
    impl->scan_timer.cancel();
    impl->scan();
  });
}

void Runner::stop() {
  auto& i = *impl_;
  if (!i.thread.joinable()) return;
  asio::post(i.io, [impl = impl_.get()] {
    impl->stopping = true;
    impl->scan_timer.cancel();
    // Lookups in progress end now (as temporary failures).
    if (impl->resolver) impl->resolver->cancel();
  });
  i.work.reset();
  // Connections in progress get a moment to finish their transaction.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!i.io.stopped() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  i.io.stop();
  i.thread.join();
  i.resolver.reset();
}

RunnerStats Runner::stats() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->counters;
}

}  // namespace postern::queue
