// Connection counting for [limits] max_connections and
// max_connections_per_ip (SPEC §4): the listener asks for a Ticket before
// it starts a session; without one the client gets 421 4.7.0 and is
// closed. A Ticket gives its slot back when destroyed. Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace postern::server {

// What per-client limits (connections, AUTH lockout) count a client by:
// an IPv4 address itself, an IPv6 address by its `ipv6_prefix` network
// ([greylist] ipv6_prefix, /64 by default), since one host holds a whole
// /64 and could otherwise walk around every per-address limit.
std::string client_key(const std::string& ip, unsigned ipv6_prefix);

class ConnectionLimits {
 public:
  class Ticket {
   public:
    Ticket(ConnectionLimits* owner, std::string ip) : owner_(owner), ip_(std::move(ip)) {}
    Ticket(Ticket&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), ip_(std::move(o.ip_)) {}
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    ConnectionLimits* owner_;
    std::string ip_;
  };

  ConnectionLimits(unsigned max_total, unsigned max_per_ip) : max_total_(max_total), max_per_ip_(max_per_ip) {}

  // A slot for a connection from `ip`, or nullopt when a limit is reached.
  std::optional<Ticket> acquire(const std::string& ip);
  void set_limits(unsigned max_total, unsigned max_per_ip);
  unsigned total() const;

 private:
  void release(const std::string& ip);

  mutable std::mutex mutex_;
  unsigned max_total_, max_per_ip_;
  unsigned total_ = 0;
  std::unordered_map<std::string, unsigned> per_ip_;
};

}  // namespace postern::server
