#include "policy/rdns.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstring>

#include "util/strings.hpp"

namespace postern::policy {

std::optional<std::string> forward_confirmed_name(const Address& a) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (a.v6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  }
  char host[NI_MAXHOST] = {};
  if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0, NI_NAMEREQD) != 0)
    return std::nullopt;
  std::string name = util::to_lower(host);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || Address::parse(name)) return std::nullopt;  // a numeric "name" confirms nothing

  addrinfo hints{};
  hints.ai_family = a.v6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return std::nullopt;
  bool confirmed = false;
  for (auto* p = res; p && !confirmed; p = p->ai_next) {
    if (p->ai_family == AF_INET && !a.v6) {
      confirmed = std::memcmp(&reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr, a.bytes.data(), 4) == 0;
    } else if (p->ai_family == AF_INET6 && a.v6) {
      confirmed = std::memcmp(&reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr, a.bytes.data(), 16) == 0;
    }
  }
  freeaddrinfo(res);
  if (!confirmed) return std::nullopt;
  return name;
}

}  // namespace postern::policy
