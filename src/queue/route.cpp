#include "queue/route.hpp"

#include <charconv>
#include <cstdlib>

#include "util/env.hpp"
#include "util/strings.hpp"

namespace postern::queue {

std::optional<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text,
                                                                     std::uint16_t default_port) {
  std::string host;
  std::string_view rest;
  if (text.empty()) return std::nullopt;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
  } else {
    auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos)
      return std::nullopt;  // bare IPv6 needs brackets
    host = std::string(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  if (host.empty()) return std::nullopt;
  for (char c : host)
    if (c == ' ' || c == '/' || static_cast<unsigned char>(c) < 0x21) return std::nullopt;
  std::uint16_t port = default_port;
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2) return std::nullopt;
    rest.remove_prefix(1);
    unsigned value = 0;
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    if (ec != std::errc{} || p != rest.data() + rest.size() || value == 0 || value > 65535) return std::nullopt;
    port = static_cast<std::uint16_t>(value);
  }
  return std::make_pair(host, port);
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  return util::to_lower(address.substr(at + 1));
}

std::uint16_t mx_port_from_environment() { return util::port_from_environment("POSTERN_OUTGOING_SMTP_PORT", 25); }

Route route_for(const config::Relay& relay, std::string_view domain_in, std::uint16_t mx_port) {
  std::string domain = util::to_lower(domain_in);
  Route r;
  if (auto it = relay.routes.find(domain); it != relay.routes.end()) {
    if (auto hp = parse_host_port(it->second)) {
      r.kind = Route::Kind::route;
      r.host = hp->first;
      r.port = hp->second;
      r.key = "route:" + r.host + ":" + std::to_string(r.port);
      return r;
    }
  }
  if (!relay.smarthost.empty()) {
    if (auto hp = parse_host_port(relay.smarthost)) {
      r.kind = Route::Kind::smarthost;
      r.host = hp->first;
      r.port = hp->second;
      r.key = "smarthost";
      return r;
    }
  }
  r.kind = Route::Kind::mx;
  r.host = domain;
  r.port = mx_port;
  r.key = "mx:" + domain;
  return r;
}

}  // namespace postern::queue
