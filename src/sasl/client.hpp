// The client side of one SASL exchange, on GNU SASL, for `postern send` and
// the relay's smarthost AUTH. No SMTP here: the caller sends AUTH, decodes
// each 334 and hands the bytes to step().
//
// Use:
//   auto mech = choose_mechanism(ehlo_auth_names, !cb.any() ? false : true);
//   ClientStepper c(*mech, {user, password}, cb);
//   if (is_client_first(*mech)) {           // SCRAM-*, PLAIN
//     auto s = c.start();                   // s.response: the initial response
//     send "AUTH " + name + " " + encode_response(s.response, /*initial=*/true)
//   } else send "AUTH " + name;             // LOGIN, CRAM-MD5
//   on "334 X": s = c.step(*base64_decode(X)); send encode_response(s.response, false)
//   on 235: success only if c.complete() — for SCRAM that means the server's
//           signature was checked; a 235 before it is a server that did not
//           prove it knows the password (treat like bad_server_signature).
//   on 535 etc.: the server refused.
//
// Statuses: `respond` (send `response`, possibly empty), `failed` (the
// mechanism cannot go on: malformed challenge, SASLprep refused the
// password; send "*" to cancel), `bad_server_signature` (SCRAM: the server's
// v= did not match — the server does not know the password or a
// man-in-the-middle is present; exit 77 and do not trust the session).
//
// Channel binding: -PLUS needs `channel_binding` (tls-exporter is used
// when set, else tls-unique; fill tls-exporter on TLS 1.3, tls-unique on
// TLS 1.2). Non-PLUS SCRAM sends the "n" flag (GNU SASL 2.2 cannot send
// "y"), so pick -PLUS whenever the server offers it: choose_mechanism() does.
// The password is wiped when the stepper dies; responses are secrets (the
// caller redacts them in transcripts).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "sasl/mechanism.hpp"

namespace postern::sasl {

struct ClientCredentials {
  std::string authcid;   // the user name (for Postern: the address)
  std::string password;
  std::string authzid;   // empty: act as authcid
};

class ClientStepper {
 public:
  enum class Status { respond, failed, bad_server_signature };
  struct Step {
    Status status;
    std::string response;  // raw bytes to base64-encode; `respond` only
    std::string error;     // for the user when not `respond`
  };

  // Throws std::invalid_argument for a -PLUS mechanism without channel binding data.
  ClientStepper(Mechanism mechanism, ClientCredentials credentials, ChannelBindings channel_binding = {});
  ~ClientStepper();
  ClientStepper(const ClientStepper&) = delete;
  ClientStepper& operator=(const ClientStepper&) = delete;

  // The initial response of a client-first mechanism (is_client_first()).
  // For LOGIN / CRAM-MD5 returns `failed`; wait for the first 334 instead.
  Step start();
  // The decoded bytes of a 334 challenge.
  Step step(std::string_view challenge);
  // The mechanism has finished on our side (SCRAM: server signature verified).
  bool complete() const;
  Mechanism mechanism() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::sasl
