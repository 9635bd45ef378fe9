// Where greylist and rate-limit state lives: one interface, two stores.
// SqliteStore keeps it in postern.db (one node); RedisStore in a Redis
// server that several nodes share. Every decision is one atomic step on
// the store (a BEGIN IMMEDIATE transaction, or one Lua script), so two
// sessions deciding on the same triplet at once cannot lose an update.
// Times are passed in by the caller (see clock.hpp), never read here.
// Stores are thread-safe: SqliteStore takes turns on one connection per
// process, RedisStore keeps a small pool (one connection per thread
// deciding at that moment); a caller holds one only for one call. Failures throw
// StoreError; callers answer 4xx (our trouble is never the client's 5xx).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "policy/clock.hpp"
#include "policy/triplet.hpp"

namespace postern::policy {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The greylist timings (config [greylist]) in milliseconds.
struct Timing {
  Millis delay = 300'000;
  Millis retry_window = 172'800'000;
  Millis max_age = 3'024'000'000;
  unsigned auto_allow_after = 5;  // 0 = off
};

enum class Verdict {
  greylisted,       // not yet: `wait` ms left
  passed,           // the triplet has passed (now or before)
  network_allowed,  // the client network passed auto_allow_after triplets
  stale_allow,      // the allow list changed since `allow_version`: reload and ask again; nothing written
};

struct Decision {
  Verdict verdict = Verdict::greylisted;
  Millis wait = 0;                // greylisted: time left until a retry passes
  std::int64_t passes = 0;        // passed: passes of this triplet; network_allowed: of the network
  std::int64_t allow_version = 0; // stale_allow: the current version
};

// One remembered triplet, for `greylist list`.
struct Entry {
  Triplet triplet;
  Millis first_seen = 0;
  Millis last_seen = 0;
  std::int64_t passes = 0;
  bool passed = false;
  Millis expires = 0;
};

// A client network's count of passed triplets (auto-allow).
struct NetworkEntry {
  std::string network;
  std::int64_t passes = 0;
  Millis expires = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // The RFC 6647 state machine for one triplet, atomically:
  //  unknown or expired -> remembered, greylisted for `delay`;
  //  seen < delay ago   -> greylisted, `wait` = what is left;
  //  seen >= delay ago and within retry_window -> passes, remembered for max_age,
  //                        and the client network's pass count goes up;
  //  already passed     -> passes again, remembered for another max_age.
  // A client network with auto_allow_after passed triplets is allowed
  // without touching the triplet. If the allow list's version differs from
  // `allow_version`, returns stale_allow and changes nothing.
  virtual Decision decide(const Triplet& t, const Timing& timing, Millis now, std::int64_t allow_version) = 0;

  // Sliding-window rate limit: true (and the event counted) when fewer than
  // `max` events from `client` fall in (now - window, now]; false otherwise
  // (refused events are not counted, so a client that waits gets through).
  virtual bool rate_hit(std::string_view client, unsigned max, Millis window, Millis now) = 0;

  // Allow entries added at run time (`postern greylist allow`), and a
  // version that changes whenever one is added.
  virtual void add_allow(std::string_view entry, Millis now) = 0;
  virtual std::vector<std::string> allow_entries() = 0;
  virtual std::int64_t allow_version() = 0;

  virtual std::vector<Entry> list(Millis now) = 0;
  virtual std::vector<NetworkEntry> networks(Millis now) = 0;
  // Removes expired triplets, networks and rate events (`all`: every
  // triplet, network and rate event; allow entries stay). Returns how many.
  virtual std::int64_t purge(Millis now, bool all) = 0;

  // "sqlite" or "redis://host:port/db", for logs.
  virtual std::string describe() const = 0;
};

// Opens the store `spec` names ("sqlite" -> database_path; "redis://...").
// Throws StoreError (bad URL, unreachable server, unusable database).
std::shared_ptr<Store> open_store(std::string_view spec, const std::string& database_path);

}  // namespace postern::policy
