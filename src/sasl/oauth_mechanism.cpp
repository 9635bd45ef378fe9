#include "sasl/oauth_mechanism.hpp"

#include "util/strings.hpp"

namespace postern::sasl {

std::string_view oauth_mechanism_name(OAuthMechanism m) {
  return m == OAuthMechanism::oauthbearer ? "OAUTHBEARER" : "XOAUTH2";
}

std::optional<OAuthMechanism> parse_oauth_mechanism(std::string_view name) {
  for (auto m : {OAuthMechanism::oauthbearer, OAuthMechanism::xoauth2})
    if (util::iequals(name, oauth_mechanism_name(m))) return m;
  return std::nullopt;
}

}  // namespace postern::sasl
