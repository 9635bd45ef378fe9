// AUTH inside the server (RFC 4954, SPEC §4 [auth], §5): the policy half
// of the exchange. The dialogue (smtp/dialogue.hpp) owns the protocol: the
// sequence rules, the 334 lines, the 12288-octet line limit, "*" and
// strict base64. This side owns what needs the server: which mechanisms
// are offered, the lockout, the credentials and the SASL steps.
//
// auth_mechanisms_for() gives the mechanisms the EHLO reply advertises on
// "250-AUTH ..." for this connection (empty: no AUTH line): the configured
// ones, none before TLS when require_tls, -PLUS only over TLS; OAUTHBEARER
// and XOAUTH2 when a token verifier exists (AuthState::oauth), over TLS
// only (unless the verifier is the testbed's).
//
// AuthExchange::start() takes the AUTH command's argument and
// respond() each decoded answer; each returns the next challenge or the
// final reply: 235, 535 (after a padded, jittered delay), 501, 504, 538,
// 454 (lockout, store unavailable), or 421 after the
// max_failures_per_session-th failure (with `close`). The SASL steps
// (store lookups, yescrypt) run on the server's blocking pool, never on
// the I/O thread; a PLAIN/LOGIN password verified less than [auth]
// verified_cache_ttl ago against the same stored hash skips yescrypt
// (sasl/verified_cache.hpp). AUTH payloads are never logged.
//
// With [auth] backend = "dovecot" (SPEC §12) every exchange is relayed to
// Dovecot's auth service (auth_dovecot.cpp, dovecot/auth_client.hpp): the
// EHLO list is Dovecot's (refresh_auth_mechanisms() asks again when the
// list is a minute old), each 334 carries Dovecot's challenge, its FAIL is
// 535 and its temporary failure, silence or absence 454 4.7.0. The
// lockout, the session limit, the padded failure time and the log stay
// ours, and so does `postern user disable`: a disabled address fails.
//
// The state kept between commands (lockout, failure counts, the user
// database, the server secret) is the Server's admission::AuthState (auth_state.hpp).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <openssl/ssl.h>

#include "admission/session_info.hpp"
#include "config/config.hpp"
#include "dovecot/auth_client.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/oauth.hpp"
#include "sasl/server.hpp"
#include "smtp/reply.hpp"

namespace postern::server {

class Server;

// What AUTH needs of the session it runs in: the SMTP Session, or another
// protocol's (the testbed's POP3 session) that authenticates the same way.
class AuthPeer {
 public:
  virtual ~AuthPeer() = default;
  virtual const admission::SessionInfo& info() const = 0;
  virtual const config::Config& config() const = 0;
  virtual Server& server() = 0;
  // The TLS connection (channel binding for SCRAM-PLUS); nullptr without TLS.
  virtual SSL* tls_handle() = 0;
  // AUTH failures in this session so far, after counting one more.
  virtual unsigned count_auth_failure() = 0;
  virtual asio::any_io_executor executor() = 0;
  // The session is being stopped (shutdown past its grace, or a timeout):
  // a front end's delay ends early.
  virtual bool stopping() const = 0;
};

std::vector<std::string> auth_mechanisms_for(const AuthPeer& session);
// Before an EHLO reply: with the Dovecot backend, refreshes the cached
// mechanism list when it is stale (one session at a time asks).
asio::awaitable<void> refresh_auth_mechanisms(AuthPeer& session);

class AuthExchange {
 public:
  struct Step {
    std::optional<std::string> challenge;  // set: send it in a 334 and wait for the answer
    smtp::Reply reply;                     // otherwise: the final reply
    std::string identity;                  // with a 235: who the client is
    bool close = false;                    // close after the reply
    bool cached = false;                   // with a 235: the password was in the verified cache
    bool drop = false;                     // a front end's rule: close at once, no reply
    std::string cause;                     // a front end's rule or scenario that chose the reply
  };

  // `exchange` holds the SASL state while challenges go back and forth.
  static asio::awaitable<Step> start(AuthPeer& session, std::string_view argument,
                                     std::unique_ptr<AuthExchange>& exchange);
  asio::awaitable<Step> respond(AuthPeer& session, std::string bytes);
  // "*" from the client: 501. After OAuth's error challenge the verdict is
  // already known, so the cancel is that failure: logged, padded and
  // counted towards the session's limit and the lockout like any other.
  asio::awaitable<Step> cancel(AuthPeer& session);

  AuthExchange(sasl::Mechanism mechanism, std::shared_ptr<sasl::CredentialStore> users,
               std::unique_ptr<sasl::ServerStepper> stepper, std::string client)
      : mechanism_(sasl::mechanism_name(mechanism)), users_(std::move(users)), stepper_(std::move(stepper)),
        client_(std::move(client)) {}
  AuthExchange(sasl::OAuthMechanism mechanism, std::unique_ptr<sasl::OAuthStepper> stepper, std::string client)
      : mechanism_(sasl::oauth_mechanism_name(mechanism)), oauth_(std::move(stepper)), client_(std::move(client)) {}
  AuthExchange(std::string mechanism, std::unique_ptr<dovecot::AuthClient> client, std::string lockout_key)
      : mechanism_name_(std::move(mechanism)), dovecot_(std::move(client)), client_(std::move(lockout_key)) {
    mechanism_ = mechanism_name_;
  }

 private:
  asio::awaitable<Step> after(AuthPeer& session, sasl::ServerStepper::Step step);
  static asio::awaitable<Step> start_oauth(AuthPeer& session, sasl::OAuthMechanism mechanism,
                                           std::optional<std::string> initial, std::string client,
                                           std::unique_ptr<AuthExchange>& exchange);
  static asio::awaitable<Step> start_dovecot(AuthPeer& session, std::string mechanism,
                                             std::optional<std::string> initial, std::string client,
                                             std::unique_ptr<AuthExchange>& exchange);
  // Dovecot's step as the stepper's, with Postern's disabled state applied.
  asio::awaitable<sasl::ServerStepper::Step> from_dovecot(AuthPeer& session, dovecot::AuthClient::Step step);
  const std::string& authcid() const {
    if (dovecot_) return dovecot_->user().empty() ? dovecot_->failed_user() : dovecot_->user();
    return oauth_ ? oauth_->authcid() : stepper_->authcid();
  }
  const std::string& identity() const {
    if (dovecot_) return dovecot_->user();
    return oauth_ ? oauth_->identity() : stepper_->identity();
  }
  std::string_view reason() const {
    if (dovecot_) return dovecot_reason_.empty() ? std::string_view(dovecot_->error()) : dovecot_reason_;
    return oauth_ ? oauth_->reason() : stepper_->reason();
  }
  void log_failure(const AuthPeer& session, std::string_view outcome) const;

  std::string_view mechanism_;  // its name
  std::shared_ptr<sasl::CredentialStore> users_;  // what the stepper reads from, kept open
  std::unique_ptr<sasl::ServerStepper> stepper_;  // GNU SASL's mechanisms, or
  std::unique_ptr<sasl::OAuthStepper> oauth_;     // OAUTHBEARER and XOAUTH2, or
  std::string mechanism_name_;                       // (Dovecot's names are not ours: kept here)
  std::unique_ptr<dovecot::AuthClient> dovecot_;     // Dovecot's auth service
  std::string dovecot_reason_;                       // set when our own state refused Dovecot's OK
  std::string client_;  // the lockout key
  std::chrono::steady_clock::time_point last_response_ = std::chrono::steady_clock::now();
};

}  // namespace postern::server
