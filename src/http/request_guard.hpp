// Who may talk to Postern's loopback HTTP sides (the testbed's page and API,
// `serve`'s /metrics) from a browser. Two checks, no I/O:
// * DNS rebinding: a page on attacker.test, re-resolved to 127.0.0.1, sends
//   `Host: attacker.test`. Only names no attacker can point at us pass: an IP
//   literal, `localhost` and `*.localhost` (browsers resolve those to
//   loopback themselves), and the names the operator allows.
// * CSRF: a cross-origin page can send a POST without asking (a form, a
//   no-cors fetch) only as text/plain, form or multipart data, never as
//   application/json; and a browser names the page's origin in `Origin`.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace postern::http {

class HostAllowlist {
 public:
  // `names`: extra host names (the listener's own, --allowed-hosts); "*" allows any.
  explicit HostAllowlist(const std::vector<std::string>& names = {});
  void add(std::string_view name);

  // `host_header` as sent ("name", "name:port", "[v6]:port"); an absent Host
  // (HTTP/1.0, no browser sends that) passes. The port plays no part: a port
  // mapping or proxy changes it, and rebinding is about the name.
  bool allows(std::string_view host_header) const;

 private:
  std::set<std::string> names_;
  bool any_ = false;
};

// The host part of a Host header, lower case, without brackets or a final
// dot; nullopt when it is not a host[:port].
std::optional<std::string> host_name(std::string_view host_header);

struct Refusal {
  int status;  // 403 or 415
  std::string reason;
};

struct RequestFacts {
  std::string_view method, host, origin, sec_fetch_site, sec_fetch_mode, sec_fetch_dest, content_type;
  bool has_body = false;
};

// For POST, PUT, PATCH and DELETE: a foreign Origin or Sec-Fetch-Site is
// 403; a body that is not application/json is 415 (a DELETE with no body is
// fine). GET, HEAD and OPTIONS from another site (Sec-Fetch-Site, sent by
// every current browser) are 403 too unless they navigate to the page: an
// <img> on any site, or in a captured HTML mail (a sandboxed frame is a
// site of its own), must not hold a wait open. Test code and curl send no
// Sec-Fetch-* and pass. Only a top-level navigation (Sec-Fetch-Dest
// document) passes: an <iframe> navigates too, and would hold a wait open.
std::optional<Refusal> refuse_cross_site(const RequestFacts& request);

}  // namespace postern::http
