#include "queue/loop.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>

namespace postern::queue {
namespace {

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

// Loopback, or an address of one of this host's interfaces.
bool is_local_address(const asio::ip::address& a) {
  if (a.is_loopback() || a.is_unspecified()) return true;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET && a.is_v4()) {
      asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
      found = asio::ip::address_v4(b) == a.to_v4();
    } else if (i->ifa_addr->sa_family == AF_INET6 && a.is_v6()) {
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
      found = asio::ip::address_v6(b) == a.to_v6();
    }
  }
  ::freeifaddrs(list);
  return found;
}

}  // namespace

bool is_own_listener(const std::vector<config::Listener>& listeners, const asio::ip::address& address,
                     std::uint16_t port) {
  const auto a = unmapped(address);
  for (const auto& l : listeners) {
    if (l.port != port) continue;
    asio::error_code ec;
    auto host = asio::ip::make_address(l.host, ec);
    if (ec) continue;
    if (host.is_unspecified() ? is_local_address(a) : unmapped(host) == a) return true;
  }
  return false;
}

}  // namespace postern::queue
