// Greylisting (RFC 6647) as the server asks for it at RCPT: allow entries
// first (config and `postern greylist allow`, the latter read from the
// store whenever its version changes, so a running server sees a new entry
// at the next RCPT), then one atomic decision on the store. Expired state
// is purged every ten minutes by whichever call comes first (SQLite; Redis
// expires keys by itself). Thread-safe; a call blocks the calling thread
// for one store round trip (plus a cached rDNS lookup when a domain entry
// exists).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.hpp"
#include "policy/allow.hpp"
#include "policy/clock.hpp"
#include "policy/store.hpp"
#include "smtp/reply.hpp"

namespace postern::policy {

struct GreylistOutcome {
  enum class Kind {
    passed,           // the triplet has waited and retried
    allowed,          // an allow entry or an auto-allowed network
    greylisted,       // 450 4.2.0, retry in `wait_seconds`
    failed,           // the store failed: 451 4.3.0
  };
  Kind kind = Kind::passed;
  std::int64_t wait_seconds = 0;  // greylisted: rounded up
  std::string triplet;            // for logs
  std::string detail;             // allow entry, "passes=N", "network", or the error

  bool accepted() const { return kind == Kind::passed || kind == Kind::allowed; }
  // nullopt when accepted; else the reply to the RCPT (SPEC §5).
  std::optional<smtp::Reply> reply() const;
};

class Greylist {
 public:
  using Resolver = std::function<std::optional<std::string>(const Address&)>;

  // Throws std::invalid_argument for a bad [greylist] allow entry.
  Greylist(const config::Greylist& cfg, std::shared_ptr<Store> store, std::shared_ptr<const Clock> clock,
           Resolver rdns = nullptr);

  bool enabled() const { return enabled_; }
  // `client_ip` as text; addresses without brackets, "" for the null sender.
  // `client_name`: the client's forward-confirmed reverse DNS name as the
  // caller already looked it up (nullopt: it has none); without it the
  // Resolver given at construction is asked (which may block).
  GreylistOutcome check(std::string_view client_ip, std::string_view reverse_path, std::string_view forward_path,
                        const std::optional<std::string>* client_name = nullptr);
  // True when an allow entry matches on the client's name, so a caller
  // should look it up before check().
  bool needs_client_name();

  Triplet triplet(const Address& client, std::string_view reverse_path, std::string_view forward_path) const;
  const Timing& timing() const { return timing_; }

 private:
  std::shared_ptr<const AllowList> allow_snapshot(std::int64_t& version);
  void reload_allow(std::int64_t version);
  std::optional<std::string> cached_rdns(const Address& a);
  void maybe_purge(Millis now);

  bool enabled_;
  Timing timing_;
  unsigned ipv4_prefix_, ipv6_prefix_;
  std::vector<std::string> config_allow_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<const Clock> clock_;
  Resolver rdns_;

  std::mutex mu_;
  std::shared_ptr<const AllowList> allow_;
  std::int64_t allow_version_ = -1;  // forces a load at the first check
  std::unordered_map<std::string, std::pair<std::optional<std::string>, Millis>> rdns_cache_;
  std::atomic<Millis> next_purge_{0};
};

// Sliding-window limit on MAIL commands per client IP ([policy]).
class RateLimit {
 public:
  RateLimit(const config::Policy& cfg, std::shared_ptr<Store> store, std::shared_ptr<const Clock> clock);
  bool enabled() const { return max_ > 0; }
  // nullopt: go on; else 450 4.7.1 (or 451 4.3.0 when the store failed).
  std::optional<smtp::Reply> check(std::string_view client_ip, std::string* detail = nullptr);

 private:
  unsigned max_;
  Millis window_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<const Clock> clock_;
};

// What `postern serve` holds: one store shared by greylist and rate limit.
// The store is opened only if one of them is on.
struct Engine {
  std::shared_ptr<Store> store;  // null when neither is enabled
  std::unique_ptr<Greylist> greylist;
  std::unique_ptr<RateLimit> rate_limit;

  // Throws StoreError or std::invalid_argument (bad allow entry).
  static std::unique_ptr<Engine> open(const config::Config& cfg,
                                      std::shared_ptr<const Clock> clock = std::make_shared<SystemClock>());
};

// The reply when our own state store fails (SPEC: our trouble is 4xx).
smtp::Reply local_problem_reply();

}  // namespace postern::policy
