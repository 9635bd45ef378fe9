// The client side of the OAuth 2.0 bearer-token mechanisms: OAUTHBEARER
// (RFC 7628) and XOAUTH2 (as Gmail and Microsoft 365 speak it). Written
// here rather than on GNU SASL (client.hpp) because GNU SASL 2.2 has
// neither: both are one client-first message and, when the token is
// refused, one answer to the server's JSON error challenge.
//
// Use:
//   OAuthClientStepper c(OAuthMechanism::oauthbearer, user, token, host, port);
//   send "AUTH OAUTHBEARER " + base64(c.initial_response())
//   on 235: done.
//   on "334 X": s = c.step(*base64_decode(X)); send base64(s.response)
//     (`refused`: the server's JSON error is in s.error / c.server_error();
//     the answer is what the mechanism requires, then the server says 535)
//
// The token is a secret: shown_initial() is what a transcript may show,
// and the stepper wipes its copies when it dies.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sasl/oauth_mechanism.hpp"

namespace postern::sasl {
// From the names of an EHLO AUTH line: OAUTHBEARER (the standard) before XOAUTH2.
std::optional<OAuthMechanism> choose_oauth_mechanism(const std::vector<std::string>& offered);

// The JSON a server sends in the 334 that refuses a token: RFC 7628 §3.2.2
// ({"status":"invalid_token","scope":...,"openid-configuration":...}) or
// Gmail's ({"status":"401","schemes":"bearer","scope":...}).
struct OAuthError {
  std::string status;
  std::string schemes;
  std::string scope;
  std::string openid_configuration;
  std::string json;  // the challenge as the server sent it, made printable
  // "status 401, schemes bearer, scope https://mail.google.com/"; the raw
  // text when it was not a JSON object.
  std::string summary() const;
};

// Decodes a refusal challenge. A challenge that is not a JSON object still
// gives an OAuthError (status empty, json holding the printable text).
OAuthError parse_oauth_error(std::string_view challenge);

class OAuthClientStepper {
 public:
  enum class Status { respond, refused, failed };
  struct Step {
    Status status;
    std::string response;  // raw bytes to base64-encode; `respond` and `refused`
    std::string error;     // `refused`: the server's error; `failed`: why
  };

  // `host` and `port` go into OAUTHBEARER's message when given (RFC 7628 §3.1).
  OAuthClientStepper(OAuthMechanism mechanism, std::string user, std::string token, std::string host = {},
                     unsigned port = 0);
  ~OAuthClientStepper();
  OAuthClientStepper(const OAuthClientStepper&) = delete;
  OAuthClientStepper& operator=(const OAuthClientStepper&) = delete;

  // Why the user or token cannot be sent (a control character would break
  // the framing), or nullopt.
  std::optional<std::string> invalid() const;
  // OAUTHBEARER: "n,a=USER,^Ahost=HOST^Aport=PORT^Aauth=Bearer TOKEN^A^A";
  // XOAUTH2: "user=USER^Aauth=Bearer TOKEN^A^A".
  std::string initial_response() const;
  // The same with the token replaced by "<redacted>" and ^A for the separator.
  std::string shown_initial() const;
  // A 334 after the initial response: the server refuses the token. The
  // answer is ^A for OAUTHBEARER (RFC 7628 §3.2.3), an empty line for XOAUTH2.
  Step step(std::string_view challenge);

  OAuthMechanism mechanism() const { return mechanism_; }
  const std::optional<OAuthError>& server_error() const { return error_; }

 private:
  std::string message(std::string_view token) const;
  OAuthMechanism mechanism_;
  std::string user_;
  std::string token_;
  std::string host_;
  unsigned port_;
  std::optional<OAuthError> error_;
};

}  // namespace postern::sasl
