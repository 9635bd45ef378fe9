// Small string helpers shared by every layer. ASCII only on purpose: SMTP
// verbs, keywords and domain names are compared case-insensitively in ASCII
// (RFC 5321 §2.4); UTF-8 local parts are compared byte for byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::util {

char ascii_lower(char c);
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
std::string_view trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);

// The one way untrusted text (from a client or a peer: reply texts, HELO
// names, addresses, header values) leaves the process for a terminal, a
// log line or a DSN (as Postfix's printable()): printable ASCII and
// well-formed UTF-8 stay; control octets (ESC included), C1 controls,
// bidirectional overrides, malformed UTF-8 and the backslash itself become
// \xNN, so nothing is dropped and nothing is ambiguous. Cut at max_octets
// (then "..." is appended).
std::string printable(std::string_view s, std::size_t max_octets = 100);
// The same for where only ASCII may go (DSN fields, RFC 3464): every
// octet from 0x80 up is escaped too.
std::string printable_ascii(std::string_view s, std::size_t max_octets = 100);

}  // namespace postern::util
