#include "queue/smtp_transport.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <fstream>
#include <set>

#include "client/auth.hpp"
#include "client/retry.hpp"
#include "client/session.hpp"
#include "client/token_command.hpp"
#include "dkim/signer.hpp"
#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "mta_sts/fetch.hpp"
#include "mta_sts/policies.hpp"
#include "queue/control.hpp"
#include "queue/inflight.hpp"
#include "queue/loop.hpp"
#include "sasl/secrets.hpp"
#include "smtp/data_decoder.hpp"
#include "util/ids.hpp"

namespace postern::queue {

namespace fs = std::filesystem;

SmtpTransport::SmtpTransport(asio::io_context& io, store::Spool& spool, Done done, SmtpOptions options)
    : io_(io), spool_(spool), done_(std::move(done)), options_(options) {}

SmtpTransport::~SmtpTransport() = default;

void SmtpTransport::start(const config::Config& config, const Schedule& schedule) {
  config_ = config;
  schedule_ = schedule;
  resolver_ = std::make_unique<dns::Resolver>(io_.get_executor(), config.relay.dns_servers, options_.dns_timeout);
  sts_ = std::make_unique<mta_sts::Policies>(io_.get_executor(), *resolver_, config.database_path(),
                                             mta_sts::https_port_from_environment());
  tls_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  tls_->set_verify_mode(asio::ssl::verify_none);
}

void SmtpTransport::reload(const config::Config& config, const Schedule& schedule) {
  // Coroutines in flight hold no reference into config_ across a
  // suspension, so replacing it here, on the io thread, is safe.
  config_ = config;
  schedule_ = schedule;
}

void SmtpTransport::stop() {
  stopping_ = true;
  if (resolver_) resolver_->cancel();  // lookups in progress end now (as temporary failures)
  if (sts_) sts_->stop();            // and so do policy fetches
}

void SmtpTransport::lift_backoffs() {
  for (auto& [key, d] : dests_) {
    d.not_before = {};
    d.failures = 0;
  }
  dispatch();
}

std::size_t SmtpTransport::enqueue(const std::string& id, const std::vector<std::pair<std::size_t, std::string>>& rcpts) {
  std::map<std::string, Job> jobs;
  const auto fixed = options_.route_override ? options_.route_override(id) : std::nullopt;
  for (const auto& [index, address] : rcpts) {
    Route route = fixed ? *fixed : route_for(config_.relay, domain_of(config_.final_recipient(address)), options_.mx_port);
    auto& job = jobs[route.key];
    job.id = id;
    job.rcpts.push_back(index);
    dests_[route.key].route = route;
  }
  for (auto& [key, job] : jobs) dests_[key].jobs.push_back(std::move(job));
  dispatch();
  return jobs.size();
}

void SmtpTransport::dispatch() {
  const auto now = Clock::now();
  for (auto& [key, d] : dests_) {
    if (!d.jobs.empty() && d.active == 0 && now < d.not_before && d.last_failure && !stopping_) {
      // Unreachable a moment ago: defer without trying until its step has passed.
      Outcome o = *d.last_failure;
      o.reason = "delivery temporarily suspended: " + o.summary();
      o.reply.reset();
      ++d.active;
      asio::co_spawn(io_, defer_all(d, std::move(o)), asio::detached);
      continue;
    }
    while (!d.jobs.empty() && d.active < options_.per_destination && active_ < options_.max_connections &&
           now >= d.not_before && !stopping_) {
      // One connection per queued job at most: don't open 4 for 1 message.
      if (d.active > 0 && d.jobs.size() <= d.active) break;
      ++d.active;
      ++active_;
      asio::co_spawn(io_, work_destination(key), [key = key](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::Event("queue_bug").add("destination", key).add("error", ex.what());
        }
      });
    }
  }
}

asio::awaitable<std::vector<SmtpTransport::Hop>> SmtpTransport::hops_for(const Route& route,
                                                                         std::optional<Outcome>& failure) {
  std::vector<Hop> hops;
  if (route.kind != Route::Kind::mx) {
    asio::error_code ec;
    auto literal = asio::ip::make_address(route.host, ec);
    if (!ec) {
      hops.push_back({route.host, literal.to_string(), route.port});
      co_return hops;
    }
    auto a = co_await resolver_->resolve_host(route.host);
    if (a.outcome != dns::Outcome::ok) {
      // A configured route: never bounce on DNS.
      failure = Outcome::ours(Outcome::Kind::deferred, "4.4.3", a.error);
      co_return hops;
    }
    for (auto& addr : a.addresses) hops.push_back({route.host, addr.to_string(), route.port});
    co_return hops;
  }
  auto dest = co_await resolver_->resolve_mail_domain(route.host);
  if (dest.outcome != dns::Outcome::ok) {
    failure = Outcome::ours(dest.outcome == dns::Outcome::temporary ? Outcome::Kind::deferred : Outcome::Kind::bounced,
                            dest.enhanced, dest.error);
    co_return hops;
  }
  for (auto& t : dest.targets)
    for (auto& addr : t.addresses) hops.push_back({t.host, addr.to_string(), route.port});
  co_return hops;
}

// Never deliver to ourselves: hops that are our own listeners are
// dropped, and with them the other addresses of that name and port (a
// "localhost" that is us on 127.0.0.1 is us on ::1 too); when none is left
// the mail loops and bounces (5.4.6).
void SmtpTransport::drop_own_listeners(const Route& route, std::vector<Hop>& hops, std::optional<Outcome>& failure) {
  const auto before = hops.size();
  std::set<std::pair<std::string, std::uint16_t>> ours;
  for (const auto& h : hops) {
    asio::error_code ec;
    auto a = asio::ip::make_address(h.address, ec);
    if (!ec && is_own_listener(config_.listeners, a, h.port)) ours.emplace(h.name, h.port);
  }
  std::erase_if(hops, [&](const Hop& h) { return ours.contains({h.name, h.port}); });
  if (before == 0 || !hops.empty()) return;
  failure = Outcome::ours(Outcome::Kind::bounced, "5.4.6", "mail for " + route.host + " loops back to myself");
  log::Event("loop").add("destination", route.key).add("error", failure->reason);
}

// RFC 8461 §4: an enforce policy leaves only the MX hosts it names (none
// left: deferred, never sent elsewhere); a testing policy only logs.
void SmtpTransport::apply_sts(const Route& route, const mta_sts::Policy& policy, std::vector<Hop>& hops,
                              std::optional<Outcome>& failure) {
  std::string allowed;
  for (const auto& m : policy.mx) allowed += (allowed.empty() ? "" : ", ") + m;
  const auto before = hops.size();
  std::vector<Hop> kept;
  for (auto& h : hops) {
    if (mta_sts::mx_allowed(policy, h.name)) {
      kept.push_back(std::move(h));
      continue;
    }
    log::Event(policy.mode == mta_sts::Mode::enforce ? "mta_sts_refused" : "mta_sts_testing")
        .add("destination", route.key)
        .add("relay", h.name)
        .add("error", "MX host not in the policy (mx: " + allowed + ")");
    if (policy.mode != mta_sts::Mode::enforce) kept.push_back(std::move(h));
  }
  hops = std::move(kept);
  if (before > 0 && hops.empty())
    failure = Outcome::ours(Outcome::Kind::deferred, "4.7.5",
                            "MTA-STS policy of " + route.host + " (enforce) allows none of its MX hosts (mx: " +
                                allowed + "); not delivered elsewhere");
}

client::Options SmtpTransport::session_options(const Hop& hop, const Route& route, bool sts_enforced) {
  client::Options o;
  o.host = hop.address;
  o.port = std::to_string(hop.port);
  o.server_name = hop.name;
  o.helo_name = config_.hostname;
  o.connect_timeout = options_.connect_timeout;
  o.command_timeout = options_.command_timeout;
  o.data_timeout = options_.data_timeout;
  if (route.kind == Route::Kind::smarthost) {
    // The smarthost gets our password: TLS as [relay] smarthost_tls says
    // (implicit on port 465, RFC 8314), verified against its name by default.
    const auto mode = config_.relay.smarthost_tls;
    o.tls = mode == config::SmarthostTls::none ? client::TlsMode::none
            : hop.port == 465                  ? client::TlsMode::implicit
                                               : client::TlsMode::starttls;
    o.verify_certificate = mode == config::SmarthostTls::verify;
    o.ca_file = config_.relay.smarthost_ca.string();
    return o;  // its own context, with the trust anchors it needs
  }
  if (sts_enforced) {
    // RFC 8461 §4.2: STARTTLS, TLS 1.2 or later, a certificate valid for the MX name.
    o.tls = client::TlsMode::starttls;
    o.verify_certificate = true;
    return o;  // its own context, with the system's trust anchors
  }
  o.tls = client::TlsMode::automatic;  // MX and routes: opportunistic STARTTLS (RFC 3207 §4; RFC 7435)
  o.verify_certificate = false;
  o.tls_context = tls_;
  return o;
}

// RFC 4954 AUTH to the smarthost with smarthost_user and the first line
// of smarthost_password_file (read at each connection, so a changed
// password needs no restart), only over what smarthost_tls allows.
asio::awaitable<std::optional<client::Error>> SmtpTransport::authenticate_smarthost(client::Session& s,
                                                                                      const Hop& hop) {
  if (!config_.relay.smarthost_oauth_token_command.empty()) co_return co_await authenticate_smarthost_oauth(s, hop);
  client::AuthRequest req;
  req.user = config_.relay.smarthost_user;
  std::ifstream in(config_.relay.smarthost_password_file);
  if (!in || !std::getline(in, req.password)) {
    co_return client::Error{client::Error::Kind::auth,
                            "cannot read relay.smarthost_password_file " +
                                config_.relay.smarthost_password_file.string(),
                            std::nullopt};
  }
  while (!req.password.empty() && (req.password.back() == '\r' || req.password.back() == '\n'))
    req.password.pop_back();
  // smarthost_tls = "none" is the operator's word that clear text will do.
  req.allow_cleartext = config_.relay.smarthost_tls == config::SmarthostTls::none;
  std::string used;
  auto err = co_await client::authenticate(s, req, &used);
  if (!err) log::Event("smarthost_auth").add("relay", hop.name).add("mechanism", used);
  co_return err;
}

// OAuth 2.0 (OAUTHBEARER or XOAUTH2) to the smarthost with the token that
// smarthost_oauth_token_command prints, run at each connection (tokens
// expire within the hour) off the io thread. A refused token may have
// expired just now: the command is run once more and AUTH tried once more.
asio::awaitable<std::optional<client::Error>> SmtpTransport::authenticate_smarthost_oauth(client::Session& s,
                                                                                            const Hop& hop) {
  const std::string command = config_.relay.smarthost_oauth_token_command;
  client::AuthRequest req;
  req.user = config_.relay.smarthost_user;
  req.host = hop.name;
  req.port = hop.port;
  req.allow_cleartext = config_.relay.smarthost_tls == config::SmarthostTls::none;
  std::optional<client::Error> err;
  for (int round = 0; round < 2; ++round) {
    auto job = [command]() -> asio::awaitable<client::TokenResult> { co_return client::run_token_command(command); };
    client::TokenResult got = co_await asio::co_spawn(signers_, job, asio::use_awaitable);
    if (!got.token)
      co_return client::Error{client::Error::Kind::auth,
                              "relay.smarthost_oauth_token_command: " + got.error, std::nullopt};
    sasl::wipe(req.token);
    req.token = std::move(*got.token);
    std::string used;
    err = co_await client::authenticate(s, req, &used);
    if (!err) {
      log::Event("smarthost_auth").add("relay", hop.name).add("mechanism", used);
      break;
    }
    const bool refused = err->kind == client::Error::Kind::auth && err->reply && err->reply->permanent();
    if (!refused || round == 1) break;
    log::Event("smarthost_token_refused").add("relay", hop.name).add("error", err->message)
        .add("action", "running the token command again");
  }
  sasl::wipe(req.token);
  co_return err;
}

// Outcomes a connection has handed over but that are not recorded yet.
struct SmtpTransport::Unrecorded {
  explicit Unrecorded(asio::io_context& io) : wake(io) {}
  unsigned count = 0;
  asio::steady_timer wake;  // cancelled as each is recorded

  asio::awaitable<void> below(unsigned n) {
    while (count >= n) {
      wake.expires_at(asio::steady_timer::time_point::max());
      asio::error_code ec;
      co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  void recorded() {
    --count;
    wake.cancel();
  }
};

asio::awaitable<void> SmtpTransport::work_destination(std::string key) {
  Destination& d = dests_[key];  // map nodes stay put
  const Route route = d.route;
  std::optional<Outcome> failure;
  std::vector<Hop> hops;
  if (!stopping_) hops = co_await hops_for(route, failure);
  if (!failure) drop_own_listeners(route, hops, failure);
  bool sts_enforced = false;
  if (!failure && !stopping_ && route.kind == Route::Kind::mx && config_.relay.mta_sts && !route.host.empty() &&
      route.host.front() != '[') {
    auto policy = co_await sts_->lookup(route.host);
    if (policy && policy->mode != mta_sts::Mode::none) {
      apply_sts(route, *policy, hops, failure);
      sts_enforced = policy->mode == mta_sts::Mode::enforce;
    }
  }
  std::unique_ptr<client::Session> session;
  Hop used;
  if (!failure) {
    std::optional<Outcome> last;
    for (const auto& hop : hops) {
      if (stopping_) break;
      const auto o = session_options(hop, route, sts_enforced);
      auto s = std::make_unique<client::Session>(io_.get_executor(), o);
      auto err = co_await s->open();
      ++connections_made_;
      const std::string relay = hop.name + "[" + hop.address + "]:" + std::to_string(hop.port);
      if (!err)
        log::Event("relay_connect")
            .add("destination", key)
            .add("relay", relay)
            .add("tls", s->tls_active() ? s->tls_description() : std::string("none"))
            .add("verified", s->tls_active() && o.verify_certificate ? "yes" : "no");
      if (!err && route.kind == Route::Kind::smarthost && !config_.relay.smarthost_user.empty())
        err = co_await authenticate_smarthost(*s, hop);
      if (!err) {
        session = std::move(s);
        used = hop;
        break;
      }
      log::Event("connect_failed").add("destination", key).add("relay", relay)
          .add("error", err->reply ? err->reply->summary() : err->message);
      last = from_client_error(*err, hop.name);
      using K = client::Error::Kind;
      if (sts_enforced && (err->kind == K::no_tls || err->kind == K::certificate || err->kind == K::tls))
        last = Outcome::ours(Outcome::Kind::deferred, "4.7.5",
                             "MTA-STS policy of " + route.host + " (enforce): " + hop.name + ": " +
                                 (err->reply ? err->reply->summary() + " (" + err->message + ")" : err->message));
      // RFC 5321 §5.1: try the next address or MX host.
    }
    if (!session) {
      failure = last ? *last : Outcome::ours(Outcome::Kind::deferred, "4.4.1", route.host + ": no address to connect to");
      // A refusal from every host (5xx greeting) is final; anything else is not.
      if (failure->kind == Outcome::Kind::bounced && !failure->reply) failure->kind = Outcome::Kind::deferred;
    }
  }
  if (failure) {
    // Nobody to talk to: every job for this destination waits a step.
    if (failure->kind == Outcome::Kind::deferred) {
      ++d.failures;
      d.not_before = Clock::now() + client::RetrySchedule::backoff(schedule_.retry, d.failures);
    }
    d.last_failure = *failure;
    --active_;  // the connection slot is free; `active` covers the deferring
    co_await defer_all(d, *failure);
    co_return;
  }
  d.failures = 0;
  d.not_before = {};
  d.last_failure.reset();
  unsigned sent = 0;
  auto marker = std::make_shared<InflightMarker>(inflight_dir(config_), record_behind);
  auto unrecorded = std::make_shared<Unrecorded>(io_);
  while (!d.jobs.empty() && !stopping_ && sent < options_.max_messages_per_connection) {
    co_await unrecorded->below(record_behind);
    if (d.jobs.empty() || stopping_) break;
    Job job = std::move(d.jobs.front());
    d.jobs.pop_front();
    ++sent;
    if (co_await deliver_one(*session, used, std::move(job), marker, unrecorded)) break;
  }
  co_await session->quit();
  co_await unrecorded->below(1);  // every outcome of this connection recorded
  --d.active;
  --active_;
  if (!d.jobs.empty() && !stopping_) dispatch();
}

// Every job queued for `d` gets `outcome`, including those that arrive
// meanwhile; then `d` is free again (the caller counted it active).
asio::awaitable<void> SmtpTransport::defer_all(Destination& d, Outcome outcome) {
  while (!d.jobs.empty()) {
    std::deque<Job> jobs;
    jobs.swap(d.jobs);
    for (auto& job : jobs) co_await done_(job, nullptr, std::vector<Outcome>(job.rcpts.size(), outcome));
  }
  --d.active;
}

// RFC 6376: mail our users submitted leaves signed by each key of its
// From: domain. A key that cannot be used is logged and the message goes
// unsigned (as OpenDKIM's On-SignatureError=accept does): a broken key
// must not hold up all of a domain's mail.
asio::awaitable<std::string> SmtpTransport::sign(const store::Envelope& envelope, const std::string& id,
                                                  std::string message) {
  if (envelope.auth_identity.empty()) co_return message;
  const std::string domain = dkim::from_domain(message);
  if (domain.empty()) co_return message;
  std::vector<std::string> problems;
  const auto keys = dkim_keys_.keys_for(config_.dkim_dir(), domain, &problems);
  for (const auto& p : problems) log::Event("dkim_error").add("queue_id", id).add("error", p);
  if (keys.empty()) co_return message;
  if (!envelope.any_sender) {
    bool owned = false;
    try {
      owned = options_.owns_domain && options_.owns_domain(config_, envelope.auth_identity, domain);
    } catch (const std::exception& e) {
      log::Event("dkim_error").add("queue_id", id).add("domain", domain).add("error", e.what());
    }
    if (!owned) {
      log::Event("dkim_not_signed").add("queue_id", id).add("domain", domain).add("user", envelope.auth_identity)
          .add("reason", "the user does not own the From: domain");
      co_return message;
    }
  }
  std::string fields;
  try {
    auto job = [&]() -> asio::awaitable<std::string> { co_return dkim::sign(message, keys); };
    std::string made = co_await asio::co_spawn(signers_, job, asio::use_awaitable);
    fields = std::move(made);
  } catch (const dkim::SignError& e) {
    log::Event("dkim_error").add("queue_id", id).add("domain", domain).add("error", e.what());
    co_return message;
  }
  log::Event("dkim_signed").add("queue_id", id).add("domain", domain).add("keys", static_cast<long long>(keys.size()));
  co_return fields + message;
}

// Records one message's outcomes while its connection goes on with the
// next; its in-flight slot is free once they are recorded.
asio::awaitable<void> SmtpTransport::record(Job job, store::SpoolEntry entry, std::vector<Outcome> outcomes,
                                            std::shared_ptr<InflightMarker> marker, int slot,
                                            std::shared_ptr<Unrecorded> unrecorded) {
  co_await done_(job, &entry, std::move(outcomes));
  marker->clear(slot);
  unrecorded->recorded();
}

// One message over an open session; true when the connection is unusable.
// Its outcomes are recorded behind it (record()): the connection may go
// on while they are, up to record_behind messages.
asio::awaitable<bool> SmtpTransport::deliver_one(client::Session& session, const Hop& hop, Job job,
                                                 std::shared_ptr<InflightMarker> marker,
                                                 std::shared_ptr<Unrecorded> unrecorded) {
  std::optional<store::SpoolEntry> entry;
  std::optional<std::string> message;
  try {
    // The recipients' states matter to the recorder only for a delay
    // warning (RFC 3464 "delayed", sent once): read them when one may be due.
    auto both = spool_.load_with_message(job.id, false);
    if (both && schedule_.delay_warning.count() > 0 &&
        Clock::now() - both->first.envelope.received_at >= schedule_.delay_warning)
      both = spool_.load_with_message(job.id);
    if (both) {
      entry = std::move(both->first);
      message = std::move(both->second);
    }
  } catch (const std::exception& e) {
    log::Event("queue_error").add("queue_id", job.id).add("error", e.what());
  }
  if (!entry || !message) {
    // Deleted meanwhile (`postern queue delete`): nothing to record.
    co_await done_(job, nullptr, {});
    co_return false;
  }
  // RFC 5321 §6.3: a message past the hop limit is looping; bounce it.
  if (const unsigned hops = smtp::count_received(*message); hops > max_hops) {
    log::Event("loop").add("queue_id", job.id).add("received", static_cast<long long>(hops));
    const auto loops = Outcome::ours(Outcome::Kind::bounced, "5.4.6",
                                     "554 5.4.6 Too many hops (" + std::to_string(hops) + " Received: fields), mail loops");
    co_await done_(job, &*entry, std::vector<Outcome>(job.rcpts.size(), loops));
    co_return false;
  }
  client::Transaction tx;
  tx.reverse_path = entry->envelope.reverse_path;
  for (auto i : job.rcpts) tx.recipients.push_back(config_.final_recipient(entry->recipients.at(i).address));
  // Named, not temporaries: GCC 12 destroys temporaries in a co_await expression twice.
  std::string unsigned_message = std::move(*message);
  std::string outgoing = co_await sign(entry->envelope, job.id, std::move(unsigned_message));
  tx.message = std::move(outgoing);

  const int slot = marker->set(job.id);  // a slot is free: the caller waited for one
  ++unrecorded->count;
  client::Delivery out;
  auto err = co_await session.send(tx, out);
  std::vector<Outcome> outcomes;
  for (std::size_t i = 0; i < job.rcpts.size(); ++i) {
    if (auto r = out.outcome(i)) {
      outcomes.push_back(Outcome::from_reply(*r, hop.name));
    } else if (err) {
      outcomes.push_back(from_client_error(*err, hop.name));
      if (outcomes.back().kind == Outcome::Kind::delivered) outcomes.back().kind = Outcome::Kind::deferred;
    } else {
      outcomes.push_back(Outcome::ours(Outcome::Kind::deferred, "4.4.2",
                                       hop.name + ": transaction ended without a reply for this recipient"));
    }
  }
  const bool broken = err.has_value();
  asio::co_spawn(io_, record(std::move(job), std::move(*entry), std::move(outcomes), std::move(marker), slot,
                             std::move(unrecorded)),
                 asio::detached);
  co_return broken;
}

}  // namespace postern::queue
