// Bearer tokens checked by OAuth 2.0 token introspection (RFC 7662) for
// OAUTHBEARER and XOAUTH2 (sasl/oauth.hpp, SPEC §14): a POST of the token
// to [auth] oauth_introspection_url over HTTPS (libcurl, certificate and
// name verified against oauth_introspection_ca or the system store), the
// server authenticated with HTTP Basic (oauth_client_id and the first line
// of oauth_client_secret_file, read at each request so a new secret needs
// no restart; a world-readable file is refused). The answer's "active",
// "username" (else "sub") and "exp" decide.
//
// Active answers with an "exp" are cached, keyed by the token's SHA-256
// (the token itself is never kept), until that time; the cache holds at
// most kMaxCached tokens. An endpoint that is down, slow (kTimeout) or
// answers anything but a JSON object with a boolean "active" makes the
// token's state unavailable (454 4.7.0). verify() blocks: call it on the
// blocking pool. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "config/config.hpp"
#include "sasl/oauth.hpp"

namespace postern::admission {

class IntrospectionVerifier final : public sasl::TokenVerifier {
 public:
  static constexpr std::chrono::milliseconds kTimeout{4000};
  static constexpr std::size_t kMaxCached = 10000;

  struct Settings {
    std::string url, client_id;
    std::filesystem::path secret_file, ca;
    std::string scope;
    bool operator==(const Settings&) const = default;
  };
  static Settings settings_of(const config::Config& config);

  explicit IntrospectionVerifier(Settings settings);
  sasl::TokenInfo verify(std::string_view token) override;
  std::string scope() const override { return settings_.scope; }
  const Settings& settings() const { return settings_; }

 private:
  struct Cached {
    std::string user;
    std::chrono::system_clock::time_point expires;
  };
  sasl::TokenInfo ask(std::string_view token, std::chrono::system_clock::time_point* expires);

  Settings settings_;
  std::mutex mutex_;
  std::map<std::string, Cached> cache_;  // SHA-256 of the token -> owner; under mutex_
};

}  // namespace postern::admission
