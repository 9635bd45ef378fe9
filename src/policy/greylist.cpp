#include "policy/greylist.hpp"

#include "smtp/replies.hpp"

#include <stdexcept>

#include "log/log.hpp"
#include "policy/rdns.hpp"
#include "policy/redis_store.hpp"
#include "policy/sqlite_store.hpp"
#include "util/strings.hpp"

namespace postern::policy {
namespace {

constexpr Millis purge_interval = 10 * 60 * 1000;
constexpr Millis rdns_ttl = 10 * 60 * 1000;
constexpr std::size_t rdns_cache_max = 4096;

Millis ms(config::Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

}  // namespace

smtp::Reply local_problem_reply() { return smtp::replies::local_error(); }

std::optional<smtp::Reply> GreylistOutcome::reply() const {
  switch (kind) {
    case Kind::passed:
    case Kind::allowed:
      return std::nullopt;
    case Kind::greylisted:
      return smtp::replies::greylisted(wait_seconds);
    case Kind::failed:
      return local_problem_reply();
  }
  return std::nullopt;
}

Greylist::Greylist(const config::Greylist& cfg, std::shared_ptr<Store> store, std::shared_ptr<const Clock> clock,
                   Resolver rdns)
    : enabled_(cfg.enabled),
      timing_{ms(cfg.delay), ms(cfg.retry_window), ms(cfg.max_age), cfg.auto_allow_after},
      ipv4_prefix_(cfg.ipv4_prefix),
      ipv6_prefix_(cfg.ipv6_prefix),
      config_allow_(cfg.allow),
      store_(std::move(store)),
      clock_(std::move(clock)),
      rdns_(rdns ? std::move(rdns) : Resolver(forward_confirmed_name)) {
  auto list = std::make_shared<AllowList>();
  for (auto& e : config_allow_) list->add(e);  // throws on a bad entry
  allow_ = std::move(list);
}

Triplet Greylist::triplet(const Address& client, std::string_view reverse_path, std::string_view forward_path) const {
  return {client_network(client, ipv4_prefix_, ipv6_prefix_), normalize_sender(reverse_path),
          normalize_recipient(forward_path)};
}

std::shared_ptr<const AllowList> Greylist::allow_snapshot(std::int64_t& version) {
  std::lock_guard lock(mu_);
  version = allow_version_;
  return allow_;
}

void Greylist::reload_allow(std::int64_t version) {
  auto entries = store_->allow_entries();
  auto list = std::make_shared<AllowList>();
  for (auto& e : config_allow_) list->add(e);
  for (auto& e : entries) {
    try {
      list->add(e);
    } catch (const std::invalid_argument& err) {
      log::Event("greylist_allow_invalid").add("entry", e).add("error", err.what());
    }
  }
  std::lock_guard lock(mu_);
  allow_ = std::move(list);
  allow_version_ = version;
}

std::optional<std::string> Greylist::cached_rdns(const Address& a) {
  Millis now = clock_->now();
  std::string key = a.str();
  {
    std::lock_guard lock(mu_);
    auto it = rdns_cache_.find(key);
    if (it != rdns_cache_.end() && it->second.second > now) return it->second.first;
  }
  auto name = rdns_(a);  // blocking; outside the lock
  std::lock_guard lock(mu_);
  if (rdns_cache_.size() >= rdns_cache_max) rdns_cache_.clear();
  rdns_cache_[key] = {name, now + rdns_ttl};
  return name;
}

void Greylist::maybe_purge(Millis now) {
  Millis due = next_purge_.load();
  if (now < due || !next_purge_.compare_exchange_strong(due, now + purge_interval)) return;
  if (due == 0) return;  // first call only schedules
  try {
    auto removed = store_->purge(now, false);
    log::Event("greylist_purge").add("removed", static_cast<long long>(removed));
  } catch (const StoreError& e) {
    log::Event("greylist_purge").add("error", e.what());
  }
}

bool Greylist::needs_client_name() {
  if (!enabled_) return false;
  std::int64_t version = 0;
  return allow_snapshot(version)->needs_rdns();
}

GreylistOutcome Greylist::check(std::string_view client_ip, std::string_view reverse_path,
                                std::string_view forward_path, const std::optional<std::string>* client_name) {
  GreylistOutcome out;
  if (!enabled_) {
    out.kind = GreylistOutcome::Kind::allowed;
    out.detail = "disabled";
    return out;
  }
  auto client = Address::parse(client_ip);
  Triplet t = client ? triplet(*client, reverse_path, forward_path)
                     : Triplet{util::printable(client_ip, 64), normalize_sender(reverse_path),
                               normalize_recipient(forward_path)};
  out.triplet = t.str();
  auto rdns = [&]() -> std::optional<std::string> {
    if (client_name) return *client_name;
    return client ? cached_rdns(*client) : std::nullopt;
  };
  try {
    std::int64_t version = 0;
    auto allow = allow_snapshot(version);
    // Allow entries are only ever added, so a hit in an old snapshot is still a hit.
    if (client) {
      if (auto hit = allow->match(*client, t.recipient, rdns)) {
        out.kind = GreylistOutcome::Kind::allowed;
        out.detail = "allow=" + *hit;
        return out;
      }
    }
    Millis now = clock_->now();
    maybe_purge(now);
    for (int attempt = 0; attempt < 4; ++attempt) {
      Decision d = store_->decide(t, timing_, now, version);
      switch (d.verdict) {
        case Verdict::stale_allow:
          reload_allow(d.allow_version);
          allow = allow_snapshot(version);
          if (client) {
            if (auto hit = allow->match(*client, t.recipient, rdns)) {
              out.kind = GreylistOutcome::Kind::allowed;
              out.detail = "allow=" + *hit;
              return out;
            }
          }
          continue;
        case Verdict::network_allowed:
          out.kind = GreylistOutcome::Kind::allowed;
          out.detail = "network passes=" + std::to_string(d.passes);
          return out;
        case Verdict::passed:
          out.kind = GreylistOutcome::Kind::passed;
          out.detail = "passes=" + std::to_string(d.passes);
          return out;
        case Verdict::greylisted:
          out.kind = GreylistOutcome::Kind::greylisted;
          out.wait_seconds = (d.wait + 999) / 1000;  // never tell a client 0 seconds while it must wait
          out.detail = "greylisted";
          return out;
      }
    }
    throw StoreError("allow list kept changing");
  } catch (const StoreError& e) {
    out.kind = GreylistOutcome::Kind::failed;
    out.detail = e.what();
  }
  return out;
}

RateLimit::RateLimit(const config::Policy& cfg, std::shared_ptr<Store> store, std::shared_ptr<const Clock> clock)
    : max_(cfg.max_messages_per_ip), window_(ms(cfg.rate_window)), store_(std::move(store)), clock_(std::move(clock)) {}

std::optional<smtp::Reply> RateLimit::check(std::string_view client_ip, std::string* detail) {
  if (max_ == 0) return std::nullopt;
  std::string client = util::printable(client_ip, 64);
  try {
    if (store_->rate_hit(client, max_, window_, clock_->now())) return std::nullopt;
    if (detail) *detail = "over " + std::to_string(max_) + " per " + std::to_string(window_ / 1000) + "s";
    return smtp::replies::rate_limited();
  } catch (const StoreError& e) {
    if (detail) *detail = e.what();
    return local_problem_reply();
  }
}

std::shared_ptr<Store> open_store(std::string_view spec, const std::string& database_path) {
  if (spec == "sqlite") return std::make_shared<SqliteStore>(database_path);
  if (spec.substr(0, 8) == "redis://") return std::make_shared<RedisStore>(spec);
  throw StoreError("unknown greylist store (want \"sqlite\" or \"redis://host:port/db\"): " + util::printable(spec));
}

std::unique_ptr<Engine> Engine::open(const config::Config& cfg, std::shared_ptr<const Clock> clock) {
  auto e = std::make_unique<Engine>();
  if (cfg.greylist.enabled || cfg.policy.max_messages_per_ip > 0)
    e->store = open_store(cfg.greylist.store, cfg.database_path().string());
  if (cfg.greylist.enabled) e->greylist = std::make_unique<Greylist>(cfg.greylist, e->store, clock);
  if (cfg.policy.max_messages_per_ip > 0) e->rate_limit = std::make_unique<RateLimit>(cfg.policy, e->store, clock);
  return e;
}

}  // namespace postern::policy
