// Per client IP AUTH lockout (SPEC §4 [auth] lockout_*): after
// `lockout_failures` failed AUTH exchanges from one address within
// `lockout_window`, every AUTH from it gets 454 4.7.0 for
// `lockout_duration`, even with correct credentials.
//
// Kept in memory, per process: a restart forgets lockouts. Nodes of a
// cluster that share a Redis greylist store also count in it (AuthState,
// SPEC §12); this per-process count is what remains when Redis is down.
// Memory is bounded: an address keeps at most `lockout_failures` time
// stamps, and entries with nothing recent are pruned as the map grows.
// Threads: safe from any thread (one mutex).
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace postern::admission {

class AuthLockout {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    unsigned failures = 10;  // 0: never lock out
    std::chrono::seconds window{600};
    std::chrono::seconds duration{900};
  };

  // True while `address` is locked out.
  bool locked(const std::string& address, Clock::time_point now);
  // Counts a failure; true when this one starts a lockout.
  bool record_failure(const std::string& address, Clock::time_point now, const Limits& limits);
  std::size_t size();

 private:
  struct Entry {
    std::deque<Clock::time_point> failures;
    Clock::time_point locked_until{};
  };
  void prune(Clock::time_point now, const Limits& limits);

  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::size_t prune_at_ = 1024;
};

}  // namespace postern::admission
