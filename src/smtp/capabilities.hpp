// What a server offers in its EHLO reply (RFC 5321 §4.1.1.1): one keyword
// per line after the first, with parameters. Only the extensions the client
// uses are kept as fields; every keyword stays listed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "smtp/reply.hpp"

namespace postern::smtp {

struct Capabilities {
  bool esmtp = false;             // EHLO answered 250 (false after a HELO fallback)
  bool pipelining = false;        // RFC 2920
  bool starttls = false;          // RFC 3207
  bool eightbitmime = false;      // RFC 6152
  bool smtputf8 = false;          // RFC 6531
  bool enhanced_status = false;   // RFC 2034
  bool chunking = false;          // RFC 3030
  bool dsn = false;               // RFC 3461
  std::optional<std::uint64_t> size;   // RFC 1870: SIZE present; 0 = no fixed limit
  std::vector<std::string> auth;       // RFC 4954 mechanisms, upper case, in the server's order
  std::vector<std::string> keywords;   // every keyword, upper case

  bool has(std::string_view keyword) const;
  bool offers_auth(std::string_view mechanism) const;
};

// Parses a 250 EHLO reply. Lines that are not keywords are skipped;
// "AUTH=LOGIN PLAIN" (the pre-standard form) counts as AUTH.
Capabilities parse_capabilities(const smtp::Reply& ehlo_reply);

}  // namespace postern::smtp
