// What AUTH (auth.hpp) keeps between commands, one per Server (no
// process-wide state, so two servers in one process, as in the tests,
// never share a lockout): the per-IP lockout (auth_lockout.hpp), the user
// database handle, and the server
// secret behind the fake SCRAM salts of unknown users (data_dir/auth.secret,
// 32 random bytes, created durably on first use, mode 0600; a file too
// short to be one is replaced). Thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.hpp"
#include "sasl/credentials.hpp"
#include "sasl/oauth.hpp"
#include "admission/auth_lockout.hpp"
#include "dovecot/auth_client.hpp"

namespace postern::store {
class UserDb;
}
namespace postern::policy {
class RedisStore;
}

namespace postern::admission {

class Users;

class AuthState {
 public:
  // `users`: the server's one user store (users.hpp), which must outlive this.
  explicit AuthState(Users& users);
  ~AuthState();
  AuthState(const AuthState&) = delete;
  AuthState& operator=(const AuthState&) = delete;

  // The user database of this data dir (opened on first use); throws
  // sasl::StoreUnavailable. Hold it for as long as it is used.
  std::shared_ptr<sasl::CredentialStore> users(const config::Config& config);
  // Whether Postern's own state disables `address` (`postern user disable`),
  // for logins checked elsewhere (Dovecot); throws sasl::StoreUnavailable.
  bool disabled(const config::Config& config, std::string_view address);
  // The server secret, created on first use; throws sasl::StoreUnavailable.
  std::string secret(const config::Config& config);
  AuthLockout& lockout() { return lockout_; }
  // The lockout AUTH applies: this process's, and, when [greylist] store is
  // "redis://...", the one every node of the cluster shares (SPEC §12).
  // When Redis fails, the local count alone decides (logged at most every
  // 10 s): nodes then count separately again, as without Redis, but AUTH
  // neither hangs (2 s timeout) nor is refused because Redis is down.
  // Blocking with Redis: call off the I/O thread.
  bool locked_out(const config::Config& config, const std::string& client);
  // Counts a failure in both; true when it starts a lockout in either.
  bool record_failure(const config::Config& config, const std::string& client, const AuthLockout::Limits& limits);
  static bool shares_lockout(const config::Config& config);
  // Dovecot's mechanisms as last seen ([auth] backend = "dovecot"), for EHLO.
  dovecot::MechanismCache& dovecot_mechanisms() { return dovecot_mechanisms_; }
  // Who checks OAuth bearer tokens: the verifier set by a front end (the
  // testbed's), else token introspection when [auth]
  // oauth_introspection_url is set (kept, with its cache, while the
  // settings stay the same), else null: no OAuth mechanism.
  std::shared_ptr<sasl::TokenVerifier> oauth(const config::Config& config);
  void set_token_verifier(std::shared_ptr<sasl::TokenVerifier> verifier);

 private:
  std::mutex mutex_;
  Users& users_;
  std::string secret_;
  std::filesystem::path secret_path_;
  AuthLockout lockout_;
  dovecot::MechanismCache dovecot_mechanisms_;
  std::shared_ptr<policy::RedisStore> shared_lockout(const config::Config& config);
  void shared_lockout_failed(const std::string& what);
  std::shared_ptr<policy::RedisStore> redis_;         // under mutex_
  std::string redis_spec_;                            // under mutex_
  std::chrono::steady_clock::time_point redis_retry_{};  // under mutex_: no reconnect before
  std::chrono::steady_clock::time_point redis_logged_{};  // under mutex_
  std::shared_ptr<sasl::TokenVerifier> fixed_verifier_;  // under mutex_
  std::shared_ptr<sasl::TokenVerifier> introspection_;   // under mutex_
};

}  // namespace postern::admission
