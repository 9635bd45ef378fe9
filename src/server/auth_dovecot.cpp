#include "server/auth_dovecot.hpp"

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>

#include "admission/auth_state.hpp"
#include "dovecot/auth_client.hpp"
#include "log/log.hpp"
#include "sasl/credentials.hpp"
#include "sasl/secrets.hpp"
#include "server/auth.hpp"
#include "server/server.hpp"
#include "server/session.hpp"
#include "smtp/replies.hpp"
#include "util/strings.hpp"

namespace postern::server {
namespace {

using namespace smtp::replies;

// How old the EHLO list may grow before a session asks Dovecot again; an
// empty one (Dovecot not reached yet) is asked for sooner.
constexpr auto kMechanismsMaxAge = std::chrono::seconds(60);
constexpr auto kRetryUnknown = std::chrono::seconds(5);

dovecot::ClientOptions client_options(const config::Config& config) {
  dovecot::ClientOptions o;
  // The loader checked the form; an unparsable value reaches nobody (454).
  if (auto a = dovecot::parse_socket_address(config.auth.dovecot_socket)) o.address = *a;
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.auth.dovecot_timeout);
  return o;
}

std::string upper(std::string s) {
  for (auto& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

}  // namespace

std::vector<std::string> dovecot_mechanisms_for(const AuthPeer& session) {
  const auto& config = session.config();
  const bool tls = session.info().tls;
  if (config.auth.require_tls && !tls) return {};
  auto& state = const_cast<AuthPeer&>(session).server().auth_state();
  return dovecot::offered_mechanisms(state.dovecot_mechanisms().mechanisms(config.auth.dovecot_socket), tls,
                                     !config.auth.require_tls);
}

bool dovecot_may_offer(const AuthPeer& session, std::string_view mechanism) {
  const auto& config = session.config();
  auto& state = const_cast<AuthPeer&>(session).server().auth_state();
  if (state.dovecot_mechanisms().mechanisms(config.auth.dovecot_socket).empty()) return true;
  for (const auto& name : dovecot_mechanisms_for(session))
    if (util::iequals(name, mechanism)) return true;
  return false;
}

asio::awaitable<void> refresh_auth_mechanisms(AuthPeer& session) {
  const auto& config = session.config();
  if (config.auth.backend != config::AuthBackend::dovecot) co_return;
  if (config.auth.require_tls && !session.info().tls) co_return;  // nothing offered anyway
  auto& cache = session.server().auth_state().dovecot_mechanisms();
  const auto& socket = config.auth.dovecot_socket;
  const auto max_age = cache.mechanisms(socket).empty() ? kRetryUnknown : kMechanismsMaxAge;
  if (!cache.claim_refresh(socket, dovecot::MechanismCache::Clock::now(), max_age)) co_return;
  dovecot::AuthClient client(session.executor(), client_options(config));
  if (!co_await client.handshake(&cache, socket))
    log::Event("auth_unavailable")
        .add("session", session.info().id)
        .add("backend", "dovecot")
        .add("error", client.error());
}

asio::awaitable<AuthExchange::Step> AuthExchange::start_dovecot(AuthPeer& session, std::string mechanism,
                                                                std::optional<std::string> initial, std::string client,
                                                                std::unique_ptr<AuthExchange>& exchange) {
  const auto& config = session.config();
  const auto& info = session.info();
  mechanism = upper(std::move(mechanism));
  auto& cache = session.server().auth_state().dovecot_mechanisms();
  auto dovecot = std::make_unique<dovecot::AuthClient>(session.executor(), client_options(config));
  // A fresh connection per exchange: its handshake is also the freshest list.
  if (!co_await dovecot->handshake(&cache, config.auth.dovecot_socket)) {
    log::Event("auth_unavailable")
        .add("session", info.id)
        .add("client", info.peer_address)
        .add("backend", "dovecot")
        .add("error", dovecot->error());
    if (initial) sasl::wipe(*initial);
    co_return Step{std::nullopt, auth_temporary_failure(), {}, false};
  }
  if (!dovecot_may_offer(session, mechanism)) {
    if (initial) sasl::wipe(*initial);
    co_return Step{std::nullopt, unknown_mechanism(), {}, false};
  }
  dovecot::AuthRequest request;
  request.id = 1;
  request.mechanism = mechanism;
  request.secured = info.tls;
  request.local_ip = info.local_ip;
  request.local_port = info.local_port;
  request.remote_ip = info.peer_address;
  request.remote_port = info.peer_port;
  request.session = info.id;
  request.initial_response = std::move(initial);
  exchange = std::make_unique<AuthExchange>(mechanism, std::move(dovecot), std::move(client));
  auto first = co_await exchange->dovecot_->begin(std::move(request));
  auto step = co_await exchange->from_dovecot(session, std::move(first));
  co_return co_await exchange->after(session, std::move(step));
}

asio::awaitable<sasl::ServerStepper::Step> AuthExchange::from_dovecot(AuthPeer& session,
                                                                       dovecot::AuthClient::Step step) {
  using In = dovecot::AuthClient::Status;
  using Out = sasl::ServerStepper::Status;
  switch (step.status) {
    case In::more:
      co_return sasl::ServerStepper::Step{Out::more, std::move(step.challenge)};
    case In::failed:
      co_return sasl::ServerStepper::Step{Out::failed, {}};
    case In::temporary:
      co_return sasl::ServerStepper::Step{Out::temporary, {}};
    case In::done:
      break;
  }
  // Dovecot vouches for the password; `postern user disable` still stands.
  const config::Config& config = session.config();
  auto& state = session.server().auth_state();
  const std::string user = dovecot_->user();
  bool disabled = false;
  bool unavailable = false;
  co_await asio::co_spawn(
      session.server().blocking(),
      [&]() -> asio::awaitable<void> {
        try {
          disabled = state.disabled(config, user);
        } catch (const sasl::StoreUnavailable&) {
          unavailable = true;
        }
        co_return;
      },
      asio::use_awaitable);
  if (unavailable) {
    dovecot_reason_ = "store-unavailable";
    co_return sasl::ServerStepper::Step{Out::temporary, {}};
  }
  if (disabled) {
    dovecot_reason_ = "disabled";
    co_return sasl::ServerStepper::Step{Out::failed, {}};
  }
  co_return sasl::ServerStepper::Step{Out::done, {}};
}

}  // namespace postern::server
