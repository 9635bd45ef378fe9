// The testbed's OAuth tokens (SPEC §10): any token passes as whoever the
// client names (with `[testbed] users`, as one of them only), except one
// starting with "invalid" (the JSON error exchange, then 535 5.7.8) and one
// starting with "expired" (454 4.7.0, as when a real server cannot reach
// its token endpoint). Offered without TLS too, like the testbed's other
// mechanisms.
#pragma once

#include <map>
#include <set>
#include <string>

#include "sasl/oauth.hpp"
#include "util/strings.hpp"

namespace postern::testbed {

class OAuthTokens final : public sasl::TokenVerifier {
 public:
  // `users`: the configured users (any case); empty: anyone.
  explicit OAuthTokens(const std::map<std::string, std::string>& users = {}) {
    for (const auto& [u, password] : users) users_.insert(util::to_lower(u));
  }
  sasl::TokenInfo verify(std::string_view token) override {
    if (token.starts_with("invalid")) return {sasl::TokenInfo::State::inactive, {}, {}};
    if (token.starts_with("expired"))
      return {sasl::TokenInfo::State::unavailable, {}, "testbed: a token starting with \"expired\""};
    return {sasl::TokenInfo::State::active, {}, {}};
  }
  std::string scope() const override { return "https://mail.google.com/"; }
  bool allows_clear_text() const override { return true; }
  bool admits(std::string_view user) const override {
    return users_.empty() || users_.contains(util::to_lower(user));
  }

 private:
  std::set<std::string> users_;
};

}  // namespace postern::testbed
