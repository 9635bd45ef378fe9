// What AUTH (auth.hpp) keeps between commands, one per Server (no
// process-wide state, so two servers in one process, as in the tests,
// never share a lockout): the per-IP lockout (auth_lockout.hpp), the
// failure count of each session, the user database handle, and the server
// secret behind the fake SCRAM salts of unknown users (data_dir/auth.secret,
// 32 random bytes, created on first use, mode 0600). Thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.hpp"
#include "sasl/credentials.hpp"
#include "server/auth_lockout.hpp"

namespace postern::store {
class UserDb;
}

namespace postern::server {

class Session;

class AuthState {
 public:
  AuthState();
  ~AuthState();
  AuthState(const AuthState&) = delete;
  AuthState& operator=(const AuthState&) = delete;

  // The user database of this data dir (opened on first use); throws
  // sasl::StoreUnavailable.
  sasl::CredentialStore& users(const config::Config& config);
  // The server secret, created on first use; throws sasl::StoreUnavailable.
  std::string secret(const config::Config& config);
  AuthLockout& lockout() { return lockout_; }
  // Failures of this session so far, after counting one more.
  unsigned count_failure(Session& session);

 private:
  struct SessionFailures {
    std::weak_ptr<Session> session;
    unsigned count = 0;
  };

  std::mutex mutex_;
  std::unique_ptr<store::UserDb> users_;
  std::filesystem::path users_path_;
  std::string secret_;
  std::filesystem::path secret_path_;
  AuthLockout lockout_;
  std::map<const Session*, SessionFailures> failures_;
};

}  // namespace postern::server
