#include "inbound/dnsbl.hpp"

namespace postern::inbound {

std::string dnsbl_query_name(asio::ip::address client, std::string_view list) {
  if (client.is_v6() && client.to_v6().is_v4_mapped())
    client = asio::ip::make_address_v4(asio::ip::v4_mapped, client.to_v6());
  std::string name;
  if (client.is_v4()) {
    auto b = client.to_v4().to_bytes();
    for (int i = 3; i >= 0; --i) name += std::to_string(b[i]) + ".";
  } else {
    static constexpr char hex[] = "0123456789abcdef";
    auto b = client.to_v6().to_bytes();
    for (int i = 15; i >= 0; --i) {
      name += hex[b[i] & 15];
      name += '.';
      name += hex[b[i] >> 4];
      name += '.';
    }
  }
  return name + std::string(list);
}

asio::awaitable<DnsblOutcome> check_dnsbl(DnsSource& dns, asio::ip::address client, std::vector<std::string> lists) {
  DnsblOutcome out;
  for (const auto& list : lists) {
    const std::string name = dnsbl_query_name(client, list);
    auto a = co_await dns.addresses(name, false);
    if (a.status == DnsAnswer::Status::error) {
      out.failed.push_back(list);
      continue;
    }
    bool listed = false;
    // RFC 5782 §2.1: 127.0.0.2 and up say "listed"; anything else (a
    // list's error codes such as 127.255.255.254) does not.
    for (const auto& r : a.records) listed = listed || (r.starts_with("127.") && r != "127.0.0.1" && !r.starts_with("127.255.255."));
    if (!listed) continue;
    Listing l{list, ""};
    auto txt = co_await dns.txt(name);
    if (txt.status == DnsAnswer::Status::found && !txt.records.empty()) l.text = txt.records.front();
    out.listing = std::move(l);
    co_return out;
  }
  co_return out;
}

}  // namespace postern::inbound
