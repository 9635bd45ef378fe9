#include "inbound/resolver_source.hpp"

namespace postern::inbound {
namespace {

DnsAnswer from(dns::Resolver::TxtAnswer a) {
  DnsAnswer out;
  if (a.outcome != dns::Outcome::ok) {
    out.status = DnsAnswer::Status::error;
    return out;
  }
  out.status = a.records.empty() ? DnsAnswer::Status::none : DnsAnswer::Status::found;
  out.records = std::move(a.records);
  return out;
}

DnsAnswer expired_answer() {
  DnsAnswer out;
  out.status = DnsAnswer::Status::error;
  return out;
}

}  // namespace

asio::awaitable<DnsAnswer> ResolverSource::txt(std::string name) {
  if (expired()) co_return expired_answer();
  co_return from(co_await resolver_.query_txt(std::move(name)));
}

asio::awaitable<DnsAnswer> ResolverSource::addresses(std::string name, bool ipv6) {
  if (expired()) co_return expired_answer();
  co_return from(co_await resolver_.query_addresses(std::move(name), ipv6));
}

asio::awaitable<DnsAnswer> ResolverSource::mx(std::string name) {
  if (expired()) co_return expired_answer();
  auto a = co_await resolver_.query_mx(std::move(name));
  DnsAnswer out;
  if (a.outcome == dns::Outcome::temporary) {
    out.status = DnsAnswer::Status::error;
    co_return out;
  }
  for (auto& r : dns::order_mx(std::move(a.records), 0))
    if (!r.host.empty()) out.records.push_back(std::move(r.host));
  out.status = out.records.empty() ? DnsAnswer::Status::none : DnsAnswer::Status::found;
  co_return out;
}

asio::awaitable<DnsAnswer> ResolverSource::ptr(asio::ip::address address) {
  if (expired()) co_return expired_answer();
  co_return from(co_await resolver_.query_ptr(address));
}

}  // namespace postern::inbound
