// Greylist allow entries ([greylist] allow, `postern greylist allow`):
//  "192.0.2.0/24", "2001:db8::/32", "192.0.2.7"  the client address;
//  "example.net"       the client's forward-confirmed reverse DNS name is
//                      example.net or ends with ".example.net";
//  "rcpt:bob@example.org", "rcpt:example.org"   the recipient (a domain
//                      covers its subdomains too).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/network.hpp"

namespace postern::policy {

struct AllowEntry {
  enum class Kind { network, client_domain, rcpt_address, rcpt_domain };
  Kind kind = Kind::network;
  std::string text;  // as written (normalised: lower-case domains)
  Cidr cidr;
  std::string value;  // domain or address

  // Throws std::invalid_argument with a message naming the problem.
  static AllowEntry parse(std::string_view text);
};

class AllowList {
 public:
  // Throws std::invalid_argument.
  void add(std::string_view entry);
  bool needs_rdns() const { return needs_rdns_; }
  std::size_t size() const { return entries_.size(); }
  // The first entry that matches, or nullopt. `rdns` is asked only when a
  // domain entry is present and nothing cheaper matched.
  std::optional<std::string> match(const Address& client, std::string_view recipient,
                                   const std::function<std::optional<std::string>()>& rdns) const;

 private:
  std::vector<AllowEntry> entries_;
  bool needs_rdns_ = false;
};

// True if `name` is `domain` or a subdomain of it (ASCII case-insensitive).
bool domain_within(std::string_view name, std::string_view domain);

}  // namespace postern::policy
