// The two OAuth 2.0 bearer-token mechanisms, named once for the server
// (oauth.hpp) and the client (oauth_client.hpp).
#pragma once

#include <optional>
#include <string_view>

namespace postern::sasl {

enum class OAuthMechanism { oauthbearer, xoauth2 };

// "OAUTHBEARER", "XOAUTH2".
std::string_view oauth_mechanism_name(OAuthMechanism m);
// Case-insensitive; nullopt for any other name.
std::optional<OAuthMechanism> parse_oauth_mechanism(std::string_view name);

}  // namespace postern::sasl
