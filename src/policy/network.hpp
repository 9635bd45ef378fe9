// Client addresses and networks: parsing IPv4/IPv6 text, CIDR blocks, and
// the client network a greylist triplet is keyed on (RFC 6647 §4.2: many
// senders retry from a different host of the same pool, so the triplet
// uses the network, /24 and /64 by default). IPv4-mapped IPv6 addresses
// (::ffff:192.0.2.1) count as IPv4.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::policy {

struct Address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4

  // nullopt if `text` is not an IPv4 or IPv6 address ("[::1]" brackets allowed).
  static std::optional<Address> parse(std::string_view text);
  unsigned bits() const { return v6 ? 128 : 32; }
  std::string str() const;
  // The address with every bit after `prefix` cleared.
  Address masked(unsigned prefix) const;
  bool operator==(const Address&) const = default;
};

struct Cidr {
  Address base;  // already masked
  unsigned prefix = 0;

  // "192.0.2.0/24", "2001:db8::/32", or a bare address (a host block).
  // nullopt on anything else, including a prefix longer than the family allows.
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const Address& a) const;
  std::string str() const;
};

// The network a client belongs to for greylisting: "192.0.2.0/24".
std::string client_network(const Address& a, unsigned ipv4_prefix, unsigned ipv6_prefix);

}  // namespace postern::policy
