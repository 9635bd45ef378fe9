// SPF records and macros (RFC 7208 §4.6, §5, §6, §7), without I/O: a
// record's text to its terms, and the macro expansion of a domain-spec or
// an explanation given what the check knows. Any syntax error makes the
// whole record a permerror (§4.6), so the parser reads it all first.
#pragma once

#include <asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace postern::inbound::spf {

enum class Qualifier : char { pass = '+', fail = '-', softfail = '~', neutral = '?' };

struct Mechanism {
  enum class Kind { all, include, a, mx, ptr, ip4, ip6, exists };
  Qualifier qualifier = Qualifier::pass;
  Kind kind = Kind::all;
  std::string domain_spec;      // macro-string; "" = the current domain
  unsigned cidr4 = 32;          // a, mx, ip4
  unsigned cidr6 = 128;         // a, mx, ip6
  asio::ip::address network;    // ip4, ip6
};

struct Record {
  std::vector<Mechanism> mechanisms;
  std::optional<std::string> redirect;  // domain-spec
  std::optional<std::string> exp;       // domain-spec
};

// True when `text` is an SPF version 1 record: "v=spf1" alone or followed
// by a space (case-insensitive), §4.5.
bool is_spf_record(std::string_view text);

// The record's terms, or why it is a permerror.
std::variant<Record, std::string> parse_record(std::string_view text);

// What the macros of §7.3 stand for.
struct MacroContext {
  std::string sender;  // s: local-part@domain
  std::string domain;  // d: the current domain
  asio::ip::address ip;
  std::string helo;          // h
  std::string validated;     // p: filled in by the caller when uses_p()
  std::string receiver;      // r
  long long timestamp = 0;   // t
};

// Whether `macro_string` names %{p} (a PTR lookup the caller does first).
bool uses_p(std::string_view macro_string);

// Expands a macro-string (explanation = true allows c, r, t, §7.2 and
// keeps spaces); nullopt on a syntax error. A domain-spec longer than 253
// octets loses labels on the left until it fits (§7.3).
std::optional<std::string> expand(std::string_view macro_string, const MacroContext& context, bool explanation = false);

// A domain name as initial processing accepts it (§4.3): labels of 1..63
// octets, at least two of them, at most 253 octets in all.
bool valid_domain(std::string_view domain);

}  // namespace postern::inbound::spf
