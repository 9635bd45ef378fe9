// The server side of OAuth 2.0 SASL: OAUTHBEARER (RFC 7628) and XOAUTH2
// (as Gmail and Microsoft 365 speak it). GNU SASL has neither mechanism as
// a server (its OAUTHBEARER server only hands the whole message to the
// application, and XOAUTH2 it does not know), and both are a single
// message and a JSON error, so they are parsed here beside the GNU SASL
// steppers rather than bent through its callbacks.
//
//   OAUTHBEARER: gs2-header "n,a=USER," then ^A, key=value pairs each ended
//                by ^A ("auth=Bearer TOKEN" among them), then ^A.
//   XOAUTH2:     "user=USER" ^A "auth=Bearer TOKEN" ^A ^A.
//
// The token is checked by a TokenVerifier (token introspection, RFC 7662,
// in `serve`; the testbed's rule of thumb there). A token that is not
// active gets the error exchange: a 334 whose base64 is a JSON error
// (RFC 7628 §3.2.2 `{"status":"invalid_token",...}`, or Gmail's
// `{"status":"401",...}` for XOAUTH2); whatever the client answers then
// (^A, or an empty line for XOAUTH2) ends in failure. The user the token
// belongs to must be the user named in the message. No I/O here.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sasl/oauth_mechanism.hpp"
#include "sasl/server.hpp"

namespace postern::sasl {

// What the client's message says.
struct OAuthInitial {
  std::string user;   // OAUTHBEARER: the authzid (a=, unescaped; may be empty); XOAUTH2: user=
  std::string token;  // the bearer token
};
// nullopt when the message is malformed (no token, bad gs2 header, no user= for XOAUTH2).
std::optional<OAuthInitial> parse_oauth_initial(OAuthMechanism m, std::string_view message);

// The message with its bearer token replaced by "<redacted>" (for
// transcripts); a message without "auth=" comes back whole.
std::string redact_oauth_token(std::string_view message);

// The JSON error of the 334 for a token that is not accepted.
std::string oauth_error_json(OAuthMechanism m, std::string_view scope);

struct TokenInfo {
  enum class State {
    active,       // `user` owns it (empty: anyone the client names, the testbed's rule)
    inactive,     // expired, revoked, unknown: the error exchange, then 535
    unavailable,  // the verifier could not tell: 454 4.7.0
    unowned,      // valid, but names no user: authenticates nobody (535, no error exchange)
  };
  State state = State::unavailable;
  std::string user;
  std::string detail;  // for the log when unavailable (never the token)
};

// Tells what a token is. verify() may block (an HTTPS request): call it off
// the I/O thread. Thread-safe.
class TokenVerifier {
 public:
  virtual ~TokenVerifier() = default;
  virtual TokenInfo verify(std::string_view token) = 0;
  // The scope named in the JSON error ("" leaves it out).
  virtual std::string scope() const { return {}; }
  // Whether the mechanisms may be offered without TLS (the testbed only).
  virtual bool allows_clear_text() const { return false; }
  // Whether `user` may log in with an active token that names nobody (the
  // testbed's tokens: any user, or only its configured users).
  virtual bool admits(std::string_view /*user*/) const { return true; }
};

// One OAuth exchange; the same Step and Status as ServerStepper.
class OAuthStepper {
 public:
  using Step = ServerStepper::Step;
  using Status = ServerStepper::Status;

  explicit OAuthStepper(std::shared_ptr<TokenVerifier> verifier) : verifier_(std::move(verifier)) {}

  // Without an initial response: an empty challenge ("334 ") and the message in step().
  Step begin(OAuthMechanism m, std::optional<std::string_view> initial_response);
  Step step(std::string_view response);

  const std::string& identity() const { return identity_; }
  const std::string& authcid() const { return user_; }
  // "malformed", "invalid-token", "wrong-user", "no-user", "introspection-unavailable".
  std::string_view reason() const { return reason_; }
  // The error challenge went out (RFC 7628 §3.2.3): the exchange has failed,
  // whatever the client answers.
  bool failed() const { return phase_ == Phase::error_sent; }
  // Why the verifier could not answer (temporary only), for the log.
  const std::string& detail() const { return detail_; }

 private:
  Step check(std::string_view message);
  Step fail(std::string_view why);

  std::shared_ptr<TokenVerifier> verifier_;
  OAuthMechanism mechanism_ = OAuthMechanism::oauthbearer;
  enum class Phase { start, message, error_sent, finished } phase_ = Phase::start;
  std::string identity_, user_, reason_, detail_;
};

}  // namespace postern::sasl
