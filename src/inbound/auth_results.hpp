// The Authentication-Results header field (RFC 8601): written for what
// this host checked, and read just enough to recognise one that claims to
// come from this host (its authserv-id), which is removed on arrival.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::inbound {

// One "method=result (comment) property=value..." of the field.
struct AuthResult {
  std::string method;   // spf, dkim, dmarc
  std::string result;   // pass, fail, none...
  std::string comment;  // without parentheses; "" for none
  std::vector<std::pair<std::string, std::string>> properties;  // ("smtp.mailfrom", "a@b.example")
};

// "Authentication-Results: host;\r\n\tspf=pass smtp.mailfrom=...;\r\n\t..."
// ending in CRLF; "none" when `results` is empty.
std::string authentication_results(std::string_view authserv_id, const std::vector<AuthResult>& results);

// The authserv-id of an Authentication-Results field's value (the text
// after the colon): its first token, comments skipped; "" when malformed.
std::string authserv_id(std::string_view value);

// A property value as RFC 8601 §2.2 allows it: a token when it is one,
// otherwise a quoted string.
std::string property_value(std::string_view value);

}  // namespace postern::inbound
