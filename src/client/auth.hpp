// AUTH for the client session (RFC 4954) through the SASL layer's client
// stepper (GNU SASL): mechanism negotiation (the strongest both sides have,
// or the one the user names), channel binding from the session's TLS
// connection for -PLUS, and transcript redaction of passwords and proofs.
#pragma once

#include <asio.hpp>
#include <optional>
#include <string>

#include "client/session.hpp"
#include "sasl/client.hpp"
#include "sasl/oauth_client.hpp"

namespace postern::client {

struct AuthRequest {
  std::string user;
  std::string password;
  // An OAuth 2.0 access token instead of a password: OAUTHBEARER or XOAUTH2
  // (`mechanism`, or OAUTHBEARER when offered, else XOAUTH2).
  std::string token;
  std::string host;              // the server's name and port, for OAUTHBEARER's message
  unsigned port = 0;
  std::string mechanism;         // empty: strongest shared
  bool allow_cleartext = false;  // send credentials without TLS (`--tls none`)
};

// SaslMechanism over a sasl::ClientStepper; responses that carry a secret
// (PLAIN, the LOGIN password, CRAM-MD5's digest, SCRAM's client proof) are
// marked secret and shown with the secret part replaced by "<redacted>".
class SaslStepperMechanism : public SaslMechanism {
 public:
  SaslStepperMechanism(sasl::Mechanism mechanism, sasl::ClientCredentials credentials, sasl::ChannelBindings cb);
  std::string name() const override;
  bool client_first() const override;
  Step step(std::string_view challenge) override;
  bool complete() const override;

 private:
  Step convert(sasl::ClientStepper::Step s);
  sasl::Mechanism mechanism_;
  std::string user_;
  sasl::ClientStepper stepper_;
  int steps_ = 0;
};

// SaslMechanism over a sasl::OAuthClientStepper. The initial response is
// secret (the token); a refusal's JSON error is kept for the error text.
class OAuthTokenMechanism : public SaslMechanism {
 public:
  OAuthTokenMechanism(sasl::OAuthMechanism mechanism, std::string user, std::string token, std::string host,
                 unsigned port);
  std::string name() const override;
  bool client_first() const override { return true; }
  Step step(std::string_view challenge) override;
  bool complete() const override { return started_; }
  const std::optional<sasl::OAuthError>& server_error() const { return stepper_.server_error(); }

 private:
  sasl::OAuthClientStepper stepper_;
  bool started_ = false;
};

// Picks the mechanism and runs AUTH on an open session. `used` receives the
// mechanism's name. Errors: Kind::cleartext without TLS (unless allowed),
// Kind::auth when nothing is shared, the server refuses, or it fails to
// prove itself (SCRAM server signature). A refused OAuth token's error
// text holds the server's decoded JSON error.
asio::awaitable<std::optional<Error>> authenticate(Session& session, const AuthRequest& request,
                                                   std::string* used = nullptr);

}  // namespace postern::client
