#include "admission/auth_state.hpp"

#include "admission/users.hpp"
#include "admission/oauth_introspection.hpp"

#include <openssl/rand.h>

#include <cerrno>

#include "log/log.hpp"
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
