#include "admission/auth_state.hpp"

#include "admission/users.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/users.hpp"

namespace postern::admission {

namespace {

std::string load_or_create_secret(const std::filesystem::path& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      std::string s(64, '\0');
      ssize_t n = ::read(fd, s.data(), s.size());
      ::close(fd);
      if (n >= 16) {
        s.resize(static_cast<std::size_t>(n));
        return s;
      }
      throw sasl::StoreUnavailable("auth secret " + path.string() + " is too short");
    }
    if (errno != ENOENT) throw sasl::StoreUnavailable("cannot read " + path.string() + ": " + std::strerror(errno));
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // another process made it first: read theirs
      throw sasl::StoreUnavailable("cannot create " + path.string() + ": " + std::strerror(errno));
    }
    std::string s(32, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(s.size()));
    bool ok = ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(path.c_str());
      throw sasl::StoreUnavailable("cannot write " + path.string());
    }
    return s;
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

std::string AuthState::secret(const config::Config& config) {
  std::lock_guard lock(mutex_);
  auto path = config.data_dir / "auth.secret";
  if (secret_.empty() || secret_path_ != path) {
    secret_ = load_or_create_secret(path);
    secret_path_ = path;
  }
  return secret_;
}

}  // namespace postern::admission
