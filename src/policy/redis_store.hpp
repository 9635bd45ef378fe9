// Greylist and rate-limit state in Redis, shared by every Postern node that
// points at the same server and database (`store = "redis://host:port/db"`).
// Each decision is one Lua script (EVALSHA, falling back to EVAL after a
// SCRIPT FLUSH or failover), which Redis runs atomically. Keys carry TTLs,
// so Redis itself forgets expired triplets; the stored expiry is checked
// as well, because decisions use the caller's clock.
// Keys (prefix "postern:" by default): gl:t:<triplet> and gl:n:<network>
// hashes, rate:<client> sorted sets, gl:allow set, gl:allow_version,
// auth:f:<client> and auth:l:<client> (the shared AUTH lockout).
// The keys of one decision are not in one hash slot: standalone Redis (or
// a primary with replicas), not Redis Cluster.
// Connections: a pool, one per thread deciding at that moment; connect and
// command timeouts are 2 s so a dead server costs a session thread at most that.
#pragma once

#include <memory>
#include <string>

#include "policy/store.hpp"

namespace postern::policy {

struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
  // "redis://[:password@]host[:port][/db]", host may be "[::1]". Throws StoreError.
  static RedisUrl parse(std::string_view url);
};

class RedisStore final : public Store {
 public:
  // Connects once to fail early; throws StoreError.
  explicit RedisStore(std::string_view url, std::string key_prefix = "postern:");
  ~RedisStore() override;

  Decision decide(const Triplet& t, const Timing& timing, Millis now, std::int64_t allow_version) override;
  bool rate_hit(std::string_view client, unsigned max, Millis window, Millis now) override;
  void add_allow(std::string_view entry, Millis now) override;
  std::vector<std::string> allow_entries() override;
  std::int64_t allow_version() override;
  std::vector<Entry> list(Millis now) override;
  std::vector<NetworkEntry> networks(Millis now) override;
  std::int64_t purge(Millis now, bool all) override;
  std::string describe() const override;

  // The AUTH lockout shared by every node (SPEC §12), beside the Store:
  // auth:f:<client> counts failures (INCR, the window as its TTL, so the
  // window is fixed from the first failure), auth:l:<client> is the lock
  // (the duration as its TTL). One Lua script, atomic. Throw StoreError.
  bool auth_locked(std::string_view client);
  // Counts a failure; true when this one starts a lockout.
  bool auth_failure(std::string_view client, unsigned failures, Millis window, Millis duration);

  struct Connection;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::policy
