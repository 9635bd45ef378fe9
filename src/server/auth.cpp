#include "server/auth.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <random>

#include "log/log.hpp"
#include "sasl/auth_line.hpp"
#include "sasl/base64.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/secrets.hpp"
#include "sasl/server.hpp"
#include "sasl/tls_binding.hpp"
#include "sasl/verified_cache.hpp"
#include "admission/auth_lockout.hpp"
#include "admission/auth_state.hpp"
#include "server/auth_dovecot.hpp"
#include "server/connection_limits.hpp"
#include "server/server.hpp"
#include "server/session.hpp"
#include "smtp/replies.hpp"
#include "util/strings.hpp"

namespace postern::server {
namespace {

using sasl::Mechanism;
using smtp::Reply;

// Every reply comes from the catalogue (smtp/replies.hpp).
using namespace smtp::replies;

// RFC 4422 §4 and chasquid's auth.go: a failure is answered no sooner than
// this after the client's last response (plus up to kJitter), so a quick
// "unknown user" and a slow yescrypt check look the same from outside.
constexpr auto kFailurePad = std::chrono::milliseconds(500);
constexpr auto kJitter = std::chrono::milliseconds(250);

std::vector<Mechanism> usable_mechanisms(const config::Config& config, bool tls) {
  std::vector<Mechanism> out;
  if (config.auth.require_tls && !tls) return out;
  for (const auto& name : config.auth.mechanisms) {
    auto m = sasl::parse_mechanism(name);
    if (!m || std::find(out.begin(), out.end(), *m) != out.end()) continue;
    if (sasl::is_plus(*m) && !tls) continue;  // nothing to bind to
    out.push_back(*m);
  }
  return out;
}

bool configured(const config::Config& config, Mechanism m) {
  for (const auto& name : config.auth.mechanisms)
    if (sasl::parse_mechanism(name) == m) return true;
  return false;
}

admission::AuthLockout::Limits lockout_limits(const config::Config& config) {
  return {config.auth.lockout_failures, config.auth.lockout_window, config.auth.lockout_duration};
}

std::chrono::milliseconds jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::chrono::milliseconds(std::uniform_int_distribution<long>(0, kJitter.count())(rng));
}

// Runs a SASL step on the blocking pool and resumes on the session's thread:
// a token's introspection, or a password check the stepper deferred.
template <typename F>
asio::awaitable<sasl::ServerStepper::Step> off_thread(AuthPeer& session, F&& step) {
  co_return co_await asio::co_spawn(
      session.server().blocking(),
      [&]() -> asio::awaitable<sasl::ServerStepper::Step> { co_return step(); }, asio::use_awaitable);
}


// OAuth's mechanisms are on when a verifier exists; a bearer token is a
// password for as long as it lives, so only over TLS (the testbed's
// verifier allows clear text, like its other mechanisms).
std::shared_ptr<sasl::TokenVerifier> oauth_verifier(const AuthPeer& session, bool* clear_ok = nullptr) {
  std::shared_ptr<sasl::TokenVerifier> v;
  try {
    v = const_cast<AuthPeer&>(session).server().auth_state().oauth(session.config());
  } catch (const std::exception&) {
    return nullptr;
  }
  if (clear_ok) *clear_ok = v && v->allows_clear_text();
  return v;
}

// The lockout (AuthState): on the blocking pool when it asks Redis.
asio::awaitable<bool> locked_out(AuthPeer& session, const std::string& client) {
  auto& state = session.server().auth_state();
  const config::Config& config = session.config();
  if (!admission::AuthState::shares_lockout(config)) co_return state.locked_out(config, client);
  co_return co_await asio::co_spawn(
      session.server().blocking(), [&]() -> asio::awaitable<bool> { co_return state.locked_out(config, client); },
      asio::use_awaitable);
}

asio::awaitable<bool> record_failure(AuthPeer& session, const std::string& client,
                                     const admission::AuthLockout::Limits& limits) {
  auto& state = session.server().auth_state();
  const config::Config& config = session.config();
  if (!admission::AuthState::shares_lockout(config)) co_return state.record_failure(config, client, limits);
  co_return co_await asio::co_spawn(
      session.server().blocking(),
      [&]() -> asio::awaitable<bool> { co_return state.record_failure(config, client, limits); }, asio::use_awaitable);
}

}  // namespace

void AuthExchange::log_failure(const AuthPeer& session, std::string_view outcome) const {
  log::Event e("auth_failed");
  e.add("session", session.info().id)
      .add("client", session.info().peer_address)
      .add("mechanism", mechanism_)
      .add("user", util::printable(authcid(), 100))
      .add("reason", reason().empty() ? std::string_view("bad-credentials") : reason())
      .add("outcome", outcome);
  if (oauth_ && !oauth_->detail().empty()) e.add("error", oauth_->detail());
}

std::vector<std::string> auth_mechanisms_for(const AuthPeer& session) {
  if (session.config().auth.backend == config::AuthBackend::dovecot) return dovecot_mechanisms_for(session);
  std::vector<std::string> names;
  for (auto m : usable_mechanisms(session.config(), session.info().tls))
    names.emplace_back(sasl::mechanism_name(m));
  bool clear_ok = false;
  if (oauth_verifier(session, &clear_ok) && (session.info().tls || clear_ok))
    for (auto m : {sasl::OAuthMechanism::oauthbearer, sasl::OAuthMechanism::xoauth2})
      names.emplace_back(sasl::oauth_mechanism_name(m));
  return names;
}

asio::awaitable<AuthExchange::Step> AuthExchange::start(AuthPeer& session, std::string_view argument,
                                                        std::unique_ptr<AuthExchange>& exchange) {
  const config::Config& config = session.config();
  const admission::SessionInfo& info = session.info();
  exchange.reset();
  const auto final = [](Reply r) { return Step{std::nullopt, std::move(r), {}, false}; };

  auto parsed = sasl::parse_auth_command(argument);
  auto* cmd = std::get_if<sasl::AuthCommand>(&parsed);
  if (cmd == nullptr) co_return final(auth_syntax());
  const bool dovecot = config.auth.backend == config::AuthBackend::dovecot;
  if (dovecot && !info.tls && config.auth.require_tls) co_return final(encryption_required());
  auto mechanism = dovecot ? std::nullopt : sasl::parse_mechanism(cmd->mechanism);
  auto oauth = dovecot ? std::nullopt : sasl::parse_oauth_mechanism(cmd->mechanism);
  bool oauth_clear_ok = false;
  if (dovecot && !dovecot_may_offer(session, cmd->mechanism)) co_return final(unknown_mechanism());
  if (oauth && !oauth_verifier(session, &oauth_clear_ok)) co_return final(unknown_mechanism());
  if (oauth && !info.tls && !oauth_clear_ok) co_return final(encryption_required());
  if (!dovecot && !oauth && (!mechanism || !configured(config, *mechanism))) co_return final(unknown_mechanism());
  if (!dovecot && !oauth && !info.tls && (config.auth.require_tls || sasl::is_plus(*mechanism)))
    co_return final(encryption_required());

  admission::AuthState& state = session.server().auth_state();
  std::string client = client_key(info.peer_address, config.greylist.ipv6_prefix);
  if (co_await locked_out(session, client)) {
    log::Event("auth_locked_out").add("session", info.id).add("client", info.peer_address);
    if (auto* metrics = session.server().metrics())
      metrics->add("postern_auth_total",
                   {{"mechanism", mechanism ? std::string(sasl::mechanism_name(*mechanism))
                                  : oauth   ? std::string(sasl::oauth_mechanism_name(*oauth))
                                            : std::string(cmd->mechanism)},
                    {"result", "temporary"}});
    co_return final(auth_temporary_failure());
  }

  // The initial response, decoded before any work (RFC 4954 §4: "=" is empty).
  std::optional<std::string> initial;
  if (cmd->initial_response) {
    auto r = sasl::decode_initial_response(*cmd->initial_response);
    if (std::holds_alternative<sasl::Cancelled>(r)) co_return final(auth_cancelled());
    if (std::holds_alternative<sasl::BadBase64>(r)) co_return final(cannot_decode());
    initial = std::move(std::get<std::string>(r));
  }
  if (dovecot)
    co_return co_await start_dovecot(session, std::string(cmd->mechanism), std::move(initial), std::move(client),
                                     exchange);
  if (oauth) co_return co_await start_oauth(session, *oauth, std::move(initial), std::move(client), exchange);

  sasl::ServerOptions options;
  std::shared_ptr<sasl::CredentialStore> users;
  try {
    options.secret = state.secret(config);
    users = state.users(config);
  } catch (const std::exception& e) {
    log::Event("auth_unavailable").add("session", info.id).add("client", info.peer_address).add("error", e.what());
    co_return final(auth_temporary_failure());
  }
  for (auto m : usable_mechanisms(config, info.tls))
    if (sasl::is_plus(m)) options.plus_offered = true;
  if (info.tls) options.channel_binding = sasl::channel_bindings(session.tls_handle(), true);
  options.verified = &sasl::VerifiedCache::process();
  options.verified_ttl = config.auth.verified_cache_ttl;
  options.defer_password_checks = true;  // steps run here; only yescrypt goes to the pool

  auto stepper_for = std::make_unique<sasl::ServerStepper>(*users, std::move(options));
  exchange = std::make_unique<AuthExchange>(*mechanism, std::move(users), std::move(stepper_for), std::move(client));
  auto& stepper = *exchange->stepper_;
  auto step = stepper.begin(*mechanism, initial ? std::optional<std::string_view>(*initial) : std::nullopt);
  if (initial) sasl::wipe(*initial);
  if (step.status == sasl::ServerStepper::Status::blocked)
    step = co_await off_thread(session, [&] { return stepper.run_blocked(); });
  co_return co_await exchange->after(session, step);
}

asio::awaitable<AuthExchange::Step> AuthExchange::start_oauth(AuthPeer& session, sasl::OAuthMechanism mechanism,
                                                              std::optional<std::string> initial, std::string client,
                                                              std::unique_ptr<AuthExchange>& exchange) {
  auto verifier = oauth_verifier(session);
  if (!verifier) co_return Step{std::nullopt, unknown_mechanism(), {}, false};
  exchange = std::make_unique<AuthExchange>(mechanism, std::make_unique<sasl::OAuthStepper>(std::move(verifier)),
                                            std::move(client));
  auto& stepper = *exchange->oauth_;
  // The token's introspection is an HTTPS request: on the blocking pool.
  auto step = co_await off_thread(session, [&] {
    return stepper.begin(mechanism, initial ? std::optional<std::string_view>(*initial) : std::nullopt);
  });
  if (initial) sasl::wipe(*initial);
  co_return co_await exchange->after(session, step);
}

asio::awaitable<AuthExchange::Step> AuthExchange::respond(AuthPeer& session, std::string bytes) {
  last_response_ = std::chrono::steady_clock::now();
  sasl::ServerStepper::Step step;
  if (dovecot_) {
    auto answer = co_await dovecot_->respond(bytes);
    sasl::wipe(bytes);
    step = co_await from_dovecot(session, std::move(answer));
  } else if (oauth_) {
    auto& stepper = *oauth_;
    step = co_await off_thread(session, [&] { return stepper.step(bytes); });
  } else {
    auto& stepper = *stepper_;
    step = stepper.step(bytes);
    if (step.status == sasl::ServerStepper::Status::blocked)
      step = co_await off_thread(session, [&] { return stepper.run_blocked(); });
  }
  sasl::wipe(bytes);
  co_return co_await after(session, step);
}

asio::awaitable<AuthExchange::Step> AuthExchange::cancel(AuthPeer& session) {
  if (!oauth_ || !oauth_->failed()) co_return Step{std::nullopt, auth_cancelled(), {}, false};
  last_response_ = std::chrono::steady_clock::now();
  sasl::ServerStepper::Step failed;
  failed.status = sasl::ServerStepper::Status::failed;
  auto step = co_await after(session, failed);
  if (!step.close) step.reply = auth_cancelled();
  co_return step;
}

asio::awaitable<AuthExchange::Step> AuthExchange::after(AuthPeer& session, sasl::ServerStepper::Step step) {
  const config::Config& config = session.config();
  const admission::SessionInfo& info = session.info();
  if (step.status == sasl::ServerStepper::Status::more) co_return Step{std::move(step.challenge), {}, {}, false};

  // A front end may decide AUTH itself (hooks.hpp; the testbed's users).
  // An OAuth token its verifier refused stays refused.
  auto* admission = session.server().admission();
  if (oauth_ && step.status != sasl::ServerStepper::Status::done) admission = nullptr;
  // Accepting a failed exchange ("any password") needs a user name and a
  // well-formed exchange; SCRAM proves the server to the client too, which no
  // server can do for a password it does not know.
  const bool failed_on_credentials = (reason() == "unknown-user" || reason() == "bad-credentials") &&
                                     !authcid().empty() && !mechanism_.starts_with("SCRAM-");
  const bool may_accept = step.status == sasl::ServerStepper::Status::done || failed_on_credentials;
  if (admission) {
    auto v = admission->decide(Stage::auth, info, nullptr, authcid());
    if (v && v->action == Verdict::Action::accept && !may_accept) v.reset();
    if (v && v->delay.count() > 0) {
      // In steps of at most 100 ms, as the other commands' rules: a stop ends the wait in 421.
      const auto until = std::chrono::steady_clock::now() + v->delay;
      asio::steady_timer t(session.executor());
      for (auto now = std::chrono::steady_clock::now(); now < until && !session.stopping();
           now = std::chrono::steady_clock::now()) {
        t.expires_after(std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(100)));
        co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      }
      if (session.stopping()) co_return Step{std::nullopt, smtp::replies::shutting_down(), {}, true, false, false, "shutdown"};
    }
    if (v) {
      Step s{std::nullopt, v->reply, v->reply.code == 235 ? authcid() : std::string(), false, false, false, v->cause};
      switch (v->action) {
        case Verdict::Action::accept:
          s.reply = authenticated();
          s.identity = step.status == sasl::ServerStepper::Status::done ? identity() : authcid();
          break;
        case Verdict::Action::drop:
          s.drop = s.close = true;
          s.identity.clear();
          break;
        case Verdict::Action::shutdown:
          s.close = true;
          break;
        case Verdict::Action::reply:
          break;
      }
      co_return s;
    }
  }

  auto* metrics = session.server().metrics();
  if (metrics)
    metrics->add("postern_auth_total",
                 {{"mechanism", std::string(mechanism_)},
                  {"result", step.status == sasl::ServerStepper::Status::done        ? "success"
                             : step.status == sasl::ServerStepper::Status::temporary ? "temporary"
                                                                                     : "failure"}});

  switch (step.status) {
    case sasl::ServerStepper::Status::done:
      co_return Step{std::nullopt, authenticated(), identity(), false, stepper_ && stepper_->verified_by_cache()};
    case sasl::ServerStepper::Status::temporary:
      log_failure(session, "temporary");
      co_return Step{std::nullopt, auth_temporary_failure(), {}, false};
    case sasl::ServerStepper::Status::more:
    case sasl::ServerStepper::Status::failed:
    case sasl::ServerStepper::Status::blocked:  // never here: run_blocked() ran
      break;
  }

  const unsigned failures = session.count_auth_failure();
  const bool locked_now = co_await record_failure(session, client_, lockout_limits(config));
  const bool last = config.auth.max_failures_per_session > 0 && failures >= config.auth.max_failures_per_session;
  log_failure(session, last ? "disconnect" : "rejected");
  if (locked_now) log::Event("auth_lockout").add("session", info.id).add("client", info.peer_address);

  // Padded, jittered failure time.
  auto until = last_response_ + kFailurePad + jitter();
  if (until > std::chrono::steady_clock::now()) {
    asio::steady_timer timer(session.executor());
    timer.expires_at(until);
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  if (last) co_return Step{std::nullopt, too_many_auth_failures(), {}, true};
  co_return Step{std::nullopt, bad_credentials(), {}, false};
}

}  // namespace postern::server
