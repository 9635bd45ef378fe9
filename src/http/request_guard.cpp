#include "http/request_guard.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "util/strings.hpp"

namespace postern::http {
namespace {

bool is_ip_literal(const std::string& name) {
  unsigned char address[16];
  return ::inet_pton(AF_INET, name.c_str(), address) == 1 || ::inet_pton(AF_INET6, name.c_str(), address) == 1;
}

bool is_loopback_name(std::string_view name) {
  constexpr std::string_view suffix = ".localhost";
  return name == "localhost" || (name.size() > suffix.size() && name.ends_with(suffix));
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool state_changing(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

}  // namespace

std::optional<std::string> host_name(std::string_view host) {
  std::string_view name;
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    name = host.substr(1, close - 1);
    const auto rest = host.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && all_digits(rest.substr(1)))) return std::nullopt;
    if (name.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    const auto colon = host.find(':');
    name = host.substr(0, colon);
    if (colon != std::string_view::npos && !all_digits(host.substr(colon + 1))) return std::nullopt;
  }
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  const bool bracketed = host.starts_with('[');
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || (bracketed && (c == ':' || c == '%'));
    if (!ok) return std::nullopt;
  }
  return util::to_lower(name);
}

HostAllowlist::HostAllowlist(const std::vector<std::string>& names) {
  for (const auto& n : names) add(n);
}

void HostAllowlist::add(std::string_view name) {
  if (name == "*") {
    any_ = true;
    return;
  }
  if (auto host = host_name(name)) names_.insert(*host);
}

bool HostAllowlist::allows(std::string_view host_header) const {
  if (any_ || host_header.empty()) return true;
  const auto name = host_name(host_header);
  if (!name) return false;
  return is_ip_literal(*name) || is_loopback_name(*name) || names_.contains(*name);
}

std::optional<Refusal> refuse_cross_site(const RequestFacts& r) {
  const bool other_site = !r.sec_fetch_site.empty() && r.sec_fetch_site != "same-origin" && r.sec_fetch_site != "none";
  const auto from_other_site = [&] {
    return Refusal{403, "cross-site request refused (Sec-Fetch-Site " + util::printable(r.sec_fetch_site, 40) +
                            ", Sec-Fetch-Mode " + util::printable(r.sec_fetch_mode, 40) + ")"};
  };
  if (!state_changing(r.method)) {
    if (other_site && (r.sec_fetch_mode != "navigate" || r.sec_fetch_dest != "document")) return from_other_site();
    return std::nullopt;
  }
  if (!r.origin.empty() && !util::iequals(r.origin, std::string("http://") + std::string(r.host)))
    return Refusal{403, "cross-origin request refused (Origin " + util::printable(r.origin, 100) + ")"};
  if (other_site) return from_other_site();
  if (r.method == "DELETE" && !r.has_body) return std::nullopt;
  const auto media_type = util::trim(r.content_type.substr(0, r.content_type.find(';')));
  if (!util::iequals(media_type, "application/json"))
    return Refusal{415, "send the body as Content-Type: application/json" +
                            (media_type.empty() ? std::string() : " (got " + util::printable(media_type, 60) + ")")};
  return std::nullopt;
}

}  // namespace postern::http
