// Passwords PLAIN and LOGIN verified recently, so a client that logs in
// again and again (a sending application, a phone polling through
// submission) costs one yescrypt check per TTL instead of one per session.
// Dovecot does the same with its auth cache for positive results.
//
// Memory only, never the password: per user the stored crypt string H the
// password was verified against and HMAC-SHA-256(K, user NUL H NUL
// password), K being 32 random octets made once per process (never logged
// or written). A later check hits only when the store still holds H (so
// `postern user passwd` from another process is seen at once: the hash
// changes) and the digest of the offered password matches (CRYPTO_memcmp).
// Failures are never remembered: a wrong password costs yescrypt as before.
//
// Bounded: at most max_entries users (the least recently used goes), and an
// entry counts for `ttl` after its yescrypt check, never longer (a hit does
// not extend it). Thread-safe: the blocking pool calls it concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace postern::sasl {

class VerifiedCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  static constexpr std::size_t kDefaultEntries = 10000;

  explicit VerifiedCache(std::size_t max_entries = kDefaultEntries, Clock clock = std::chrono::steady_clock::now);
  ~VerifiedCache();
  VerifiedCache(const VerifiedCache&) = delete;
  VerifiedCache& operator=(const VerifiedCache&) = delete;

  // True when `password` was verified for `user` against this same `hash`
  // less than `ttl` ago. A stale entry (other hash, expired) is dropped.
  // Forgets every entry (the cache was turned off by a reload).
  void clear();
  bool contains(std::string_view user, std::string_view hash, std::string_view password, std::chrono::seconds ttl);
  // After a successful yescrypt check of `password` against `hash`.
  void remember(std::string_view user, std::string_view hash, std::string_view password);
  std::size_t size() const;

  // The one the server's steppers share.
  static VerifiedCache& process();

 private:
  struct Entry {
    std::string hash;
    std::string digest;
    std::chrono::steady_clock::time_point verified_at;
    std::list<std::string>::iterator lru;  // position in recent_
  };
  std::string digest(std::string_view user, std::string_view hash, std::string_view password) const;
  void erase(std::unordered_map<std::string, Entry>::iterator it);

  const std::size_t max_entries_;
  const Clock clock_;
  std::string key_;  // K
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> recent_;  // users, most recently used first
};

}  // namespace postern::sasl
