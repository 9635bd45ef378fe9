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

namespace postern::client {

struct AuthRequest {
  std::string user;
  std::string password;
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

// Picks the mechanism and runs AUTH on an open session. `used` receives the
// mechanism's name. Errors: Kind::cleartext without TLS (unless allowed),
// Kind::auth when nothing is shared, the server refuses, or it fails to
// prove itself (SCRAM server signature).
asio::awaitable<std::optional<Error>> authenticate(Session& session, const AuthRequest& request,
                                                   std::string* used = nullptr);

}  // namespace postern::client
