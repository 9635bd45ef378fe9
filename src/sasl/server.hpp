// The server side of one SASL exchange, on GNU SASL. The session feeds it
// decoded client responses and sends what it returns as 334 challenges;
// this class knows nothing of SMTP replies, sockets or timing (the session
// adds the padded failure delay and the lockout).
//
// Credentials come from a CredentialStore, asked once per exchange with
// the authentication identity the client names:
// * PLAIN, LOGIN: the password is checked against the yescrypt hash
//   (GSASL_VALIDATE_SIMPLE). An unknown user is checked against a dummy
//   hash, so the failure costs the same. With a VerifiedCache in the
//   options, a password verified against the same hash less than the TTL
//   ago passes without yescrypt (verified_cache.hpp).
// * SCRAM-*: the stored salt, iteration count, StoredKey and ServerKey (RFC
//   5803) are handed to GNU SASL. An unknown user (or one without keys for
//   this hash) gets a salt derived from the server secret and the name
//   (HMAC-SHA-256), the usual iteration count and random keys: the exchange
//   looks the same and fails at the proof, like a wrong password.
// * -PLUS: the client must bind to the TLS channel (tls-exporter or
//   tls-unique, whichever ServerOptions carries). A non-PLUS exchange with
//   the "y" flag is refused when -PLUS was offered (RFC 5802 §6).
// * CRAM-MD5: needs the user's cram secret; users without one fail.
// An authorization identity other than the authentication identity fails
// (no proxy authorization). Secrets are wiped when the stepper dies.
//
// SMTP has no "additional data with success" (RFC 4954 §4): when SCRAM ends
// with the server-final message, step() returns it as a challenge (`more`)
// and the client's empty answer then gives `done`.
//
// Threads: one stepper is used by one thread at a time; steppers on
// different threads are independent. step() may block on the store and on
// yescrypt (tens of milliseconds): call it off the I/O thread, unless the
// options defer password checks. Then a step that would run yescrypt
// returns `blocked` instead, and run_blocked() (off the I/O thread) runs
// the exchange again with the check allowed; every other step is a store
// lookup and a few hashes, cheap enough for the I/O thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sasl/credentials.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/verified_cache.hpp"

namespace postern::sasl {

struct ServerOptions {
  // Stable per installation (kept in the data dir), at least 16 random
  // bytes: fake SCRAM salts of unknown users derive from it, so they do
  // not change between attempts or restarts.
  std::string secret;
  // -PLUS mechanisms were in this connection's EHLO AUTH list.
  bool plus_offered = false;
  // This connection's TLS channel bindings (empty without TLS).
  ChannelBindings channel_binding;
  // PLAIN/LOGIN successes remembered for verified_ttl; none or 0: every
  // password goes through yescrypt.
  VerifiedCache* verified = nullptr;
  std::chrono::seconds verified_ttl{0};
  // A PLAIN/LOGIN password check the VerifiedCache cannot answer (a miss,
  // a wrong password, an unknown user's dummy check) stops the step with
  // `blocked` instead of running yescrypt.
  bool defer_password_checks = false;
};

class ServerStepper {
 public:
  enum class Status {
    more,       // send `challenge` on a 334 and step() with the answer
    done,       // authenticated as identity()
    failed,     // bad credentials, malformed exchange, wrong binding: 535
    temporary,  // the store could not answer: 454 4.7.0
    blocked,    // a password check was deferred: call run_blocked() off the I/O thread
  };
  struct Step {
    Status status;
    std::string challenge;  // raw bytes (base64-encode for the 334); `more` only
  };

  ServerStepper(CredentialStore& store, ServerOptions options);
  ~ServerStepper();
  ServerStepper(const ServerStepper&) = delete;
  ServerStepper& operator=(const ServerStepper&) = delete;

  // Starts `mechanism` with the decoded initial response, if the AUTH line
  // had one. Without one the result is the first challenge (maybe empty:
  // "334 "). An initial response to CRAM-MD5 (server-first) fails.
  Step begin(Mechanism mechanism, std::optional<std::string_view> initial_response);
  // The client's decoded answer to the last challenge.
  Step step(std::string_view response);
  // After `blocked`: the exchange so far again (PLAIN and LOGIN are the
  // same every time: no random challenge), now with yescrypt allowed.
  Step run_blocked();

  // The canonical identity from the store; set once done.
  const std::string& identity() const;
  // The authentication identity the client named (empty if none yet): for
  // logs only, never for decisions. Caller escapes it.
  const std::string& authcid() const;
  // A short reason for the log when failed/temporary: "bad-credentials",
  // "unknown-user", "malformed", "channel-binding", "authzid", "store-unavailable".
  std::string_view reason() const;
  // Done on a PLAIN/LOGIN password the VerifiedCache knew: no yescrypt ran.
  bool verified_by_cache() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::sasl
