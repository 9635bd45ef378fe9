// DMARC (RFC 7489) without I/O: the policy record, the organizational
// domain (from the public suffix list, through libpsl), alignment and the
// verdict. The record lookup itself (_dmarc.DOMAIN, then the
// organizational domain's) is message_check's.
//
// libpsl rather than a reader of our own: it is what curl and wget use,
// knows the list's wildcard and exception rules and IDNs, and reads
// Debian's publicsuffix package (the newest of that file and its own
// built-in copy).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace postern::inbound::dmarc {

enum class Policy { none, quarantine, reject };
std::string_view to_string(Policy policy);

struct Record {
  Policy p = Policy::none;
  std::optional<Policy> sp;  // subdomains; default p
  bool strict_dkim = false;  // adkim=s
  bool strict_spf = false;   // aspf=s
  unsigned pct = 100;
};

// "v=DMARC1; p=reject; ..." or why it is not a usable record. A record
// whose p= is missing or unknown is unusable (§6.6.3 treats it as none).
std::variant<Record, std::string> parse_record(std::string_view text);
bool is_dmarc_record(std::string_view text);

// The organizational domain of `domain` (§3.2): the public suffix plus one
// label; `domain` itself (lower-cased) when the list knows no better.
std::string organizational_domain(std::string_view domain);

// Identifier alignment (§3.1): strict wants the same name, relaxed the
// same organizational domain.
bool aligned(std::string_view a, std::string_view b, bool strict);

}  // namespace postern::inbound::dmarc
