// Value syntax of the configuration file (SPEC §4): durations, sizes,
// addresses, endpoints, the Redis URL, greylist allow entries. Pure string
// parsing; each failure is std::invalid_argument with a message that says
// what was expected. The loader adds file, line and key.
#include <arpa/inet.h>

#include <charconv>
#include <limits>

#include "config/config.hpp"
#include "util/strings.hpp"

namespace postern::config {
namespace {

using std::invalid_argument;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string q(std::string_view s) { return "\"" + util::printable(s, 80) + "\""; }

// Splits "123unit" into the number and the unit; the number must be there.
std::pair<std::uint64_t, std::string_view> number_and_unit(std::string_view text, const char* expected) {
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  if (i == 0) throw invalid_argument(q(text) + ": " + expected);
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, n);
  if (ec != std::errc{} || ptr != text.data() + i) throw invalid_argument(q(text) + ": number too large");
  return {n, text.substr(i)};
}

bool is_ipv4(std::string_view s) {
  in_addr a;
  return s.size() < 16 && ::inet_pton(AF_INET, std::string(s).c_str(), &a) == 1;
}

bool is_ipv6(std::string_view s) {
  in6_addr a;
  return s.size() < 46 && ::inet_pton(AF_INET6, std::string(s).c_str(), &a) == 1;
}

std::uint16_t parse_port(std::string_view text, std::string_view whole, bool zero_ok = false) {
  if (text.empty()) throw invalid_argument(q(whole) + ": missing port after ':'");
  std::uint32_t port = 0;
  for (char c : text)
    if (!is_digit(c)) throw invalid_argument(q(whole) + ": port " + q(text) + " is not a number");
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || (port == 0 && !zero_ok) || port > 65535)
    throw invalid_argument(q(whole) + ": port " + std::string(text) + " is out of range (" + (zero_ok ? "0" : "1") +
                           "-65535)");
  return static_cast<std::uint16_t>(port);
}

// Splits "host:port", "[v6]:port", "host", "[v6]". `bracketed` tells whether
// the host was in brackets; port is empty when absent.
struct HostPort {
  std::string_view host, port;
  bool bracketed = false, has_port = false;
};

HostPort split_host_port(std::string_view text) {
  HostPort hp;
  if (text.empty()) throw invalid_argument("empty address");
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) throw invalid_argument(q(text) + ": missing ']' after the IPv6 address");
    hp.host = text.substr(1, close - 1);
    hp.bracketed = true;
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw invalid_argument(q(text) + ": expected ':' and a port after ']'");
      hp.port = rest.substr(1);
      hp.has_port = true;
    }
    if (!is_ipv6(hp.host)) throw invalid_argument(q(text) + ": " + q(hp.host) + " is not an IPv6 address");
    return hp;
  }
  auto colon = text.find(':');
  if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
    if (is_ipv6(text)) {  // a bare IPv6 address: a host without a port
      hp.host = text;
      hp.bracketed = true;
      return hp;
    }
    throw invalid_argument(q(text) + ": write an IPv6 address in brackets, as \"[::1]:25\"");
  }
  hp.host = text.substr(0, colon);
  if (colon != std::string_view::npos) {
    hp.port = text.substr(colon + 1);
    hp.has_port = true;
  }
  if (hp.host.empty()) throw invalid_argument(q(text) + ": missing host before ':'");
  return hp;
}

}  // namespace

Duration parse_duration(std::string_view text) {
  static constexpr const char* expected = "expected a number with a unit s, m, h or d, such as \"30s\" or \"5m\"";
  if (text.empty()) throw invalid_argument(std::string("empty; ") + expected);
  auto [n, unit] = number_and_unit(text, expected);
  std::uint64_t mult;
  if (unit.empty() || unit == "s") mult = 1;
  else if (unit == "m") mult = 60;
  else if (unit == "h") mult = 3600;
  else if (unit == "d") mult = 86400;
  else throw invalid_argument(q(text) + ": unknown unit " + q(unit) + "; use s, m, h or d");
  // Ten years is longer than any timer a mail server needs; beyond it, a typo.
  constexpr std::uint64_t max_seconds = 3650ull * 86400;
  if (n > max_seconds / mult) throw invalid_argument(q(text) + ": longer than 3650d");
  return Duration(static_cast<Duration::rep>(n * mult));
}

std::uint64_t parse_size(std::string_view text) {
  static constexpr const char* expected =
      "expected a number of octets with an optional unit K, M or G (K = 1024), such as \"25M\"";
  if (text.empty()) throw invalid_argument(std::string("empty; ") + expected);
  auto [n, unit] = number_and_unit(text, expected);
  unsigned shift;
  if (unit.empty()) shift = 0;
  else if (unit == "K" || unit == "k") shift = 10;
  else if (unit == "M" || unit == "m") shift = 20;
  else if (unit == "G" || unit == "g") shift = 30;
  else throw invalid_argument(q(text) + ": unknown unit " + q(unit) + "; use K, M or G (K = 1024)");
  // 1 TiB: no mail server size limit is larger; beyond it, a typo.
  constexpr std::uint64_t max_octets = 1ull << 40;
  if (n > (max_octets >> shift)) throw invalid_argument(q(text) + ": larger than 1024G");
  return n << shift;
}

std::string format_duration(Duration d) {
  auto s = static_cast<std::uint64_t>(d.count());
  if (s == 0) return "0s";
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string format_size(std::uint64_t octets) {
  if (octets != 0) {
    if (octets % (1ull << 30) == 0) return std::to_string(octets >> 30) + "G";
    if (octets % (1ull << 20) == 0) return std::to_string(octets >> 20) + "M";
    if (octets % (1ull << 10) == 0) return std::to_string(octets >> 10) + "K";
  }
  return std::to_string(octets);
}

bool is_domain(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  std::size_t label = 0;
  char prev = '.';
  for (char c : text) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      bool ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-';
      if (!ldh || (label == 0 && c == '-') || ++label > 63) return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

Endpoint parse_listen_address(std::string_view text, bool any_port) {
  auto hp = split_host_port(text);
  if (!hp.has_port && hp.bracketed && text.front() != '[')
    throw invalid_argument(q(text) + ": write an IPv6 address in brackets, with a port, as \"[::]:25\"");
  if (!hp.has_port) throw invalid_argument(q(text) + ": expected an IP address and a port, as \"0.0.0.0:25\" or \"[::]:25\"");
  if (!hp.bracketed && !is_ipv4(hp.host))
    throw invalid_argument(q(text) + ": " + q(hp.host) +
                           " is not an IP address; listen on \"0.0.0.0:PORT\", \"[::]:PORT\" or a local address");
  return Endpoint{util::to_lower(hp.host), parse_port(hp.port, text, any_port)};
}

Endpoint parse_endpoint(std::string_view text, std::uint16_t default_port, bool ip_only) {
  auto hp = split_host_port(text);
  if (!hp.bracketed) {
    bool ip = is_ipv4(hp.host);
    if (ip_only && !ip) throw invalid_argument(q(text) + ": " + q(hp.host) + " is not an IP address");
    if (!ip && !is_domain(hp.host)) throw invalid_argument(q(text) + ": " + q(hp.host) + " is not a host name");
  }
  return Endpoint{util::to_lower(hp.host), hp.has_port ? parse_port(hp.port, text) : default_port};
}

void parse_milter_address(std::string_view text, Milter& m) {
  if (util::istarts_with(text, "unix:")) {
    auto path = text.substr(5);
    if (path.empty() || path.front() != '/')
      throw invalid_argument(q(text) + ": expected an absolute socket path, as \"unix:/run/rspamd/milter.sock\"");
    if (path.size() > 107) throw invalid_argument(q(text) + ": the socket path is longer than 107 octets");
    m.socket = std::string(path);
    m.host.clear();
    m.port = 0;
    return;
  }
  if (util::istarts_with(text, "inet:")) {
    auto ep = parse_endpoint(text.substr(5), 0);
    if (ep.port == 0) throw invalid_argument(q(text) + ": expected a port, as \"inet:127.0.0.1:11332\"");
    m.socket.clear();
    m.host = ep.host;
    m.port = ep.port;
    return;
  }
  throw invalid_argument(q(text) + ": expected \"unix:/PATH\" or \"inet:HOST:PORT\"");
}

RedisUrl parse_redis_url(std::string_view text) {
  constexpr std::string_view scheme = "redis://";
  if (!util::istarts_with(text, scheme))
    throw invalid_argument(q(text) + ": expected \"sqlite\" or \"redis://HOST:PORT/DB\"");
  auto rest = text.substr(scheme.size());
  if (rest.find('@') != std::string_view::npos)
    throw invalid_argument(q(text) + ": credentials in the URL are not supported");
  RedisUrl url;
  auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty()) {
      for (char c : db)
        if (!is_digit(c)) throw invalid_argument(q(text) + ": database " + q(db) + " is not a number");
      auto [ptr, ec] = std::from_chars(db.data(), db.data() + db.size(), url.db);
      if (ec != std::errc{} || url.db > 65535) throw invalid_argument(q(text) + ": database number too large");
    }
    rest = rest.substr(0, slash);
  }
  if (rest.empty()) throw invalid_argument(q(text) + ": missing host after redis://");
  auto ep = parse_endpoint(rest, 6379);
  url.host = ep.host;
  url.port = ep.port;
  return url;
}

std::string parse_allow_entry(std::string_view text) {
  if (text.empty()) throw invalid_argument("empty allow entry");
  if (util::istarts_with(text, "rcpt:")) {
    auto what = text.substr(5);
    auto at = what.rfind('@');
    auto domain = at == std::string_view::npos ? what : what.substr(at + 1);
    if (at != std::string_view::npos) {
      auto local = what.substr(0, at);
      if (local.empty()) throw invalid_argument(q(text) + ": empty local part before '@'");
      for (unsigned char c : local)
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>')
          throw invalid_argument(q(text) + ": the local part may not contain spaces, controls or <>");
    }
    if (!is_domain(domain))
      throw invalid_argument(q(text) + ": expected \"rcpt:user@example.org\" or \"rcpt:example.org\"");
    // Local parts are case-sensitive in principle (RFC 5321 §2.4); only the domain is folded.
    return "rcpt:" + std::string(what.substr(0, at == std::string_view::npos ? 0 : at + 1)) + util::to_lower(domain);
  }
  auto slash = text.find('/');
  auto addr = text.substr(0, slash);
  bool v4 = is_ipv4(addr), v6 = !v4 && is_ipv6(addr);
  if (v4 || v6) {
    if (slash != std::string_view::npos) {
      auto prefix = text.substr(slash + 1);
      unsigned bits = 0;
      auto [ptr, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), bits);
      if (prefix.empty() || ec != std::errc{} || ptr != prefix.data() + prefix.size() || bits > (v4 ? 32u : 128u))
        throw invalid_argument(q(text) + ": the prefix length must be 0-" + (v4 ? "32" : "128"));
    }
    return util::to_lower(text);
  }
  if (slash != std::string_view::npos)
    throw invalid_argument(q(text) + ": " + q(addr) + " is not an IP address");
  // A leading dot is allowed (".example.net"); matching is the greylist's business.
  auto domain = text.front() == '.' ? text.substr(1) : text;
  if (!is_domain(domain))
    throw invalid_argument(q(text) + ": expected a CIDR (\"192.0.2.0/24\"), a domain (\"example.net\") or \"rcpt:ADDR\"");
  return util::to_lower(text);
}

const std::vector<std::string>& known_mechanisms() {
  static const std::vector<std::string> list{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                                             "SCRAM-SHA-1",        "PLAIN",            "LOGIN",
                                             "CRAM-MD5"};
  return list;
}

}  // namespace postern::config
