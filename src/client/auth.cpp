#include "client/auth.hpp"

#include "util/strings.hpp"

namespace postern::client {

SaslStepperMechanism::SaslStepperMechanism(sasl::Mechanism mechanism, sasl::ClientCredentials credentials,
                                           sasl::ChannelBindings cb)
    : mechanism_(mechanism), user_(credentials.authcid), stepper_(mechanism, std::move(credentials), std::move(cb)) {}

std::string SaslStepperMechanism::name() const { return std::string(sasl::mechanism_name(mechanism_)); }

bool SaslStepperMechanism::client_first() const { return sasl::is_client_first(mechanism_); }

bool SaslStepperMechanism::complete() const { return stepper_.complete(); }

SaslMechanism::Step SaslStepperMechanism::step(std::string_view challenge) {
  ++steps_;
  if (steps_ == 1 && client_first()) return convert(stepper_.start());
  return convert(stepper_.step(challenge));
}

SaslMechanism::Step SaslStepperMechanism::convert(sasl::ClientStepper::Step s) {
  Step out;
  switch (s.status) {
    case sasl::ClientStepper::Status::failed:
      out.status = Step::Status::failed;
      out.error = s.error;
      return out;
    case sasl::ClientStepper::Status::bad_server_signature:
      out.status = Step::Status::failed;
      out.error = s.error.empty() ? "the server's SCRAM signature does not match: it does not know the password, or "
                                    "someone is in the middle"
                                  : s.error;
      return out;
    case sasl::ClientStepper::Status::respond:
      break;
  }
  out.status = stepper_.complete() ? Step::Status::done : Step::Status::more;
  out.output = std::move(s.response);
  if (out.output.empty()) return out;
  using M = sasl::Mechanism;
  switch (mechanism_) {
    case M::plain:
      // RFC 4616: authzid NUL authcid NUL password.
      out.secret = true;
      out.shown = "PLAIN " + util::printable(user_, 200) + " <redacted>";
      break;
    case M::login:
      // LOGIN answers "Username:" then "Password:".
      if (out.output != user_) {
        out.secret = true;
        out.shown = "password <redacted>";
      }
      break;
    case M::cram_md5:
      // RFC 2195: "user digest"; the digest allows an offline guess.
      out.secret = true;
      out.shown = util::printable(user_, 200) + " <redacted>";
      break;
    default:
      // SCRAM (RFC 5802 §7): client-final-message carries ",p=" proof.
      if (auto p = out.output.find(",p="); p != std::string::npos) {
        out.secret = true;
        out.shown = util::printable(out.output.substr(0, p), 400) + ",p=<redacted>";
      }
      break;
  }
  return out;
}

OAuthTokenMechanism::OAuthTokenMechanism(sasl::OAuthMechanism mechanism, std::string user, std::string token, std::string host,
                               unsigned port)
    : stepper_(mechanism, std::move(user), std::move(token), std::move(host), port) {}

std::string OAuthTokenMechanism::name() const { return std::string(sasl::oauth_mechanism_name(stepper_.mechanism())); }

SaslMechanism::Step OAuthTokenMechanism::step(std::string_view challenge) {
  Step out;
  if (!started_) {
    started_ = true;
    if (auto why = stepper_.invalid()) {
      out.status = Step::Status::failed;
      out.error = *why;
      return out;
    }
    out.status = Step::Status::done;
    out.output = stepper_.initial_response();
    out.secret = true;
    out.shown = stepper_.shown_initial();
    return out;
  }
  auto s = stepper_.step(challenge);
  if (s.status == sasl::OAuthClientStepper::Status::failed) {
    out.status = Step::Status::failed;
    out.error = s.error;
    return out;
  }
  // The answer the mechanism requires after a refusal; the 535 follows.
  out.status = Step::Status::more;
  out.output = std::move(s.response);
  if (stepper_.mechanism() == sasl::OAuthMechanism::oauthbearer) out.shown = "^A";
  return out;
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out.empty() ? "none" : out;
}

}  // namespace

asio::awaitable<std::optional<Error>> authenticate(Session& session, const AuthRequest& request, std::string* used) {
  const auto& caps = session.capabilities();
  if (!session.tls_active() && !request.allow_cleartext)
    co_return Error{Error::Kind::cleartext,
                    "refusing to send credentials without TLS: the server did not offer STARTTLS (use --tls none to "
                    "allow clear text)",
                    std::nullopt};
  const sasl::ChannelBindings& cb = session.channel_bindings();

  if (!request.token.empty()) {
    std::optional<sasl::OAuthMechanism> oauth;
    if (!request.mechanism.empty()) {
      oauth = sasl::parse_oauth_mechanism(request.mechanism);
      if (!oauth) co_return Error{Error::Kind::auth, request.mechanism + " does not take an OAuth token", std::nullopt};
      if (!caps.offers_auth(sasl::oauth_mechanism_name(*oauth)))
        co_return Error{Error::Kind::auth,
                        "the server does not offer " + std::string(sasl::oauth_mechanism_name(*oauth)) +
                            " (it offers: " + join(caps.auth) + ")",
                        std::nullopt};
    } else {
      oauth = sasl::choose_oauth_mechanism(caps.auth);
      if (!oauth)
        co_return Error{Error::Kind::auth,
                        "the server offers neither OAUTHBEARER nor XOAUTH2 (it offers: " + join(caps.auth) + ")",
                        std::nullopt};
    }
    if (used) *used = std::string(sasl::oauth_mechanism_name(*oauth));
    OAuthTokenMechanism m(*oauth, request.user, request.token, request.host, request.port);
    auto e = co_await session.authenticate(m, request.allow_cleartext);
    if (e && m.server_error()) {
      std::string refused = "the server refused the OAuth token for " + util::printable(request.user, 200) + " (" +
                            m.server_error()->summary() + "; it said " + m.server_error()->json + ")";
      e->message = e->kind == Error::Kind::auth ? refused : e->message + ", after " + refused;
    }
    co_return e;
  }

  std::optional<sasl::Mechanism> mech;
  if (!request.mechanism.empty()) {
    mech = sasl::parse_mechanism(request.mechanism);
    if (!mech) co_return Error{Error::Kind::auth, "unknown mechanism " + request.mechanism, std::nullopt};
    if (!caps.offers_auth(sasl::mechanism_name(*mech)))
      co_return Error{Error::Kind::auth,
                      "the server does not offer " + std::string(sasl::mechanism_name(*mech)) + " (it offers: " +
                          join(caps.auth) + ")",
                      std::nullopt};
    if (sasl::is_plus(*mech) && !cb.any())
      co_return Error{Error::Kind::auth, std::string(sasl::mechanism_name(*mech)) + " needs TLS channel binding",
                      std::nullopt};
  } else {
    if (caps.auth.empty()) co_return Error{Error::Kind::auth, "the server does not offer AUTH", std::nullopt};
    mech = sasl::choose_mechanism(caps.auth, cb.any());
    if (!mech)
      co_return Error{Error::Kind::auth, "no mechanism in common with the server (it offers: " + join(caps.auth) + ")",
                      std::nullopt};
  }
  if (used) *used = std::string(sasl::mechanism_name(*mech));
  SaslStepperMechanism m(*mech, sasl::ClientCredentials{request.user, request.password, {}}, cb);
  co_return co_await session.authenticate(m, request.allow_cleartext);
}

}  // namespace postern::client
