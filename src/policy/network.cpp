#include "policy/network.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace postern::policy {

std::optional<Address> Address::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 63) return std::nullopt;
  std::string s(text);
  Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  // Drop a zone index ("fe80::1%eth0"): it does not name a different network.
  if (auto pct = s.find('%'); pct != std::string::npos) s.resize(pct);
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), mapped, 12) == 0) {
    Address v4;
    std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
    return v4;
  }
  a.v6 = true;
  return a;
}

std::string Address::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

Address Address::masked(unsigned prefix) const {
  Address out = *this;
  unsigned total = bits();
  if (prefix >= total) return out;
  for (unsigned bit = prefix; bit < total; ++bit) {
    out.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return out;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = Address::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  unsigned prefix = addr->bits();
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || p != digits.data() + digits.size() || prefix > addr->bits()) return std::nullopt;
  }
  return Cidr{addr->masked(prefix), prefix};
}

bool Cidr::contains(const Address& a) const { return a.v6 == base.v6 && a.masked(prefix) == base; }

std::string Cidr::str() const { return base.str() + "/" + std::to_string(prefix); }

std::string client_network(const Address& a, unsigned ipv4_prefix, unsigned ipv6_prefix) {
  unsigned prefix = a.v6 ? ipv6_prefix : ipv4_prefix;
  if (prefix > a.bits()) prefix = a.bits();
  return Cidr{a.masked(prefix), prefix}.str();
}

}  // namespace postern::policy
