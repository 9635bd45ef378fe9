#include "admission/auth_state.hpp"

#include "admission/users.hpp"
#include "admission/oauth_introspection.hpp"

#include <openssl/rand.h>

#include <cerrno>

#include "log/log.hpp"
#include "policy/redis_store.hpp"
#include "policy/store.hpp"
#include "store/durable_file.hpp"
#include "store/users.hpp"

namespace postern::admission {

namespace {

constexpr std::size_t secret_octets = 32;
constexpr std::size_t shortest_secret = 16;

std::string fresh_secret() {
  std::string s(secret_octets, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(s.size())) != 1)
    throw sasl::StoreUnavailable("no random bytes for the auth secret");
  return s;
}

// Written whole or not at all (store/durable_file.hpp): a power loss during
// the first start leaves no file, never an empty one. A file too short to
// be a secret (left by a version that wrote it in place) is replaced.
std::string load_or_create_secret(const std::filesystem::path& path) {
  try {
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::string s;
      try {
        s = store::read_file(path);
      } catch (const store::IoError& e) {
        if (e.code().value() != ENOENT) throw;
        s = fresh_secret();
        if (store::create_durably(path, s, 0600)) return s;
        continue;  // another process made it first: read theirs
      }
      if (s.size() >= shortest_secret) return s.substr(0, 64);
      log::Event("auth_secret_replaced")
          .add("file", path.string())
          .add("octets", static_cast<long long>(s.size()))
          .add("reason", "too short to be a secret (a write cut short by a crash)");
      store::write_durably(path, fresh_secret(), 0600);
      // Read back what landed: another process may be replacing it too.
    }
  } catch (const store::IoError& e) {
    throw sasl::StoreUnavailable(std::string("auth secret: ") + e.what());
  }
  throw sasl::StoreUnavailable("cannot create " + path.string());
}

}  // namespace

AuthState::AuthState(Users& users) : users_(users) {}
AuthState::~AuthState() = default;

std::shared_ptr<sasl::CredentialStore> AuthState::users(const config::Config& config) {
  try {
    return users_.open(config);
  } catch (const std::exception& e) {
    throw sasl::StoreUnavailable(e.what());
  }
}

namespace {
constexpr auto kRedisRetry = std::chrono::seconds(10);
policy::Millis millis(std::chrono::seconds s) { return static_cast<policy::Millis>(s.count()) * 1000; }
}  // namespace

bool AuthState::shares_lockout(const config::Config& config) {
  return config.greylist.store.rfind("redis://", 0) == 0;
}

void AuthState::shared_lockout_failed(const std::string& what) {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  redis_.reset();
  redis_retry_ = now + kRedisRetry;
  if (redis_logged_ != std::chrono::steady_clock::time_point{} && now < redis_logged_ + kRedisRetry) return;
  redis_logged_ = now;
  log::Event("auth_lockout_store_unavailable").add("fallback", "local").add("error", what);
}

std::shared_ptr<policy::RedisStore> AuthState::shared_lockout(const config::Config& config) {
  if (!shares_lockout(config)) return nullptr;
  {
    std::lock_guard lock(mutex_);
    if (redis_ && redis_spec_ == config.greylist.store) return redis_;
    if (std::chrono::steady_clock::now() < redis_retry_ && redis_spec_ == config.greylist.store) return nullptr;
  }
  try {
    auto store = std::make_shared<policy::RedisStore>(config.greylist.store);
    std::lock_guard lock(mutex_);
    redis_ = store;
    redis_spec_ = config.greylist.store;
    return store;
  } catch (const std::exception& e) {
    {
      std::lock_guard lock(mutex_);
      redis_spec_ = config.greylist.store;
    }
    shared_lockout_failed(e.what());
    return nullptr;
  }
}

bool AuthState::locked_out(const config::Config& config, const std::string& client) {
  if (lockout_.locked(client, AuthLockout::Clock::now())) return true;
  auto redis = shared_lockout(config);
  if (!redis) return false;
  try {
    return redis->auth_locked(client);
  } catch (const std::exception& e) {
    shared_lockout_failed(e.what());
    return false;
  }
}

bool AuthState::record_failure(const config::Config& config, const std::string& client,
                               const AuthLockout::Limits& limits) {
  bool started = lockout_.record_failure(client, AuthLockout::Clock::now(), limits);
  if (limits.failures == 0) return started;
  auto redis = shared_lockout(config);
  if (!redis) return started;
  try {
    started |= redis->auth_failure(client, limits.failures, millis(limits.window), millis(limits.duration));
  } catch (const std::exception& e) {
    shared_lockout_failed(e.what());
  }
  return started;
}

bool AuthState::disabled(const config::Config& config, std::string_view address) {
  try {
    auto user = users_.open(config)->get(address);
    return user && user->disabled;
  } catch (const store::UserError&) {
    return false;  // not an address Postern can hold: no state
  } catch (const std::exception& e) {
    throw sasl::StoreUnavailable(e.what());
  }
}

std::string AuthState::secret(const config::Config& config) {
  std::lock_guard lock(mutex_);
  auto path = config.data_dir / "auth.secret";
  if (secret_.empty() || secret_path_ != path) {
    secret_ = load_or_create_secret(path);
    secret_path_ = path;
  }
  return secret_;
}

std::shared_ptr<sasl::TokenVerifier> AuthState::oauth(const config::Config& config) {
  std::lock_guard lock(mutex_);
  if (fixed_verifier_) return fixed_verifier_;
  if (config.auth.oauth_introspection_url.empty()) return nullptr;
  auto wanted = IntrospectionVerifier::settings_of(config);
  auto* current = dynamic_cast<IntrospectionVerifier*>(introspection_.get());
  if (!current || !(current->settings() == wanted)) introspection_ = std::make_shared<IntrospectionVerifier>(wanted);
  return introspection_;
}

void AuthState::set_token_verifier(std::shared_ptr<sasl::TokenVerifier> verifier) {
  std::lock_guard lock(mutex_);
  fixed_verifier_ = std::move(verifier);
}

}  // namespace postern::admission
