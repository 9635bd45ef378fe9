#include "server/connection_limits.hpp"

#include "policy/network.hpp"

namespace postern::server {

std::string client_key(const std::string& ip, unsigned ipv6_prefix) {
  auto a = policy::Address::parse(ip);
  if (!a) return ip;
  return policy::client_network(*a, 32, ipv6_prefix);
}

ConnectionLimits::Ticket::~Ticket() {
  if (owner_) owner_->release(ip_);
}

std::optional<ConnectionLimits::Ticket> ConnectionLimits::acquire(const std::string& ip) {
  std::lock_guard lock(mutex_);
  if (total_ >= max_total_) return std::nullopt;
  auto& n = per_ip_[ip];
  if (n >= max_per_ip_) {
    if (n == 0) per_ip_.erase(ip);
    return std::nullopt;
  }
  ++n;
  ++total_;
  return Ticket(this, ip);
}

void ConnectionLimits::release(const std::string& ip) {
  std::lock_guard lock(mutex_);
  --total_;
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

void ConnectionLimits::set_limits(unsigned max_total, unsigned max_per_ip) {
  std::lock_guard lock(mutex_);
  max_total_ = max_total;
  max_per_ip_ = max_per_ip;
}

unsigned ConnectionLimits::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace postern::server
