#include "mta_sts/policies.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "mta_sts/cache.hpp"

namespace postern::mta_sts {

namespace {

// "…: HTTP 404 (remembered; tried again in 283 s)"
std::string remembered(const NegativeCache::Failure& f, NegativeCache::Clock::time_point now) {
  const auto left = std::chrono::ceil<std::chrono::seconds>(f.until - now).count();
  return f.error + " (remembered; tried again in " + std::to_string(left) + " s)";
}

}  // namespace

struct Policies::Shared {
  explicit Shared(const asio::any_io_executor& executor) : done(executor, asio::steady_timer::time_point::max()) {}
  std::optional<Policy> policy;
  bool finished = false;
  asio::steady_timer done;  // cancelled when finished
};

Policies::Policies(asio::any_io_executor executor, dns::Resolver& resolver, std::filesystem::path database,
                   std::uint16_t port, std::chrono::milliseconds fetch_timeout)
    : executor_(executor), resolver_(resolver), database_(std::move(database)), port_(port),
      fetch_timeout_(fetch_timeout), fetcher_(executor) {}

Policies::~Policies() = default;

void Policies::stop() {
  stopped_ = true;
  fetcher_.stop();
}

Cache* Policies::cache() {
  if (!cache_) {
    try {
      cache_ = std::make_unique<Cache>(database_);
    } catch (const std::exception& e) {
      log::Event("mta_sts_error").add("error", std::string("policy cache: ") + e.what());
    }
  }
  return cache_.get();
}

asio::awaitable<std::optional<Policy>> Policies::lookup(std::string domain) {
  if (auto it = in_progress_.find(domain); it != in_progress_.end()) {
    auto shared = it->second;
    if (!shared->finished) co_await shared->done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return shared->policy;
  }
  auto shared = std::make_shared<Shared>(executor_);
  in_progress_.emplace(domain, shared);
  std::optional<Policy> policy;
  try {
    policy = co_await look_up(domain);
  } catch (...) {
    finish(domain, *shared, std::nullopt);
    throw;
  }
  finish(domain, *shared, policy);
  co_return policy;
}

void Policies::finish(const std::string& domain, Shared& shared, std::optional<Policy> policy) {
  shared.policy = std::move(policy);
  shared.finished = true;
  shared.done.cancel();
  in_progress_.erase(domain);
}

asio::awaitable<std::optional<Policy>> Policies::look_up(std::string domain) {
  // Named, not temporaries: GCC 12 destroys temporaries in a co_await expression twice.
  const std::string record_name = "_mta-sts." + domain, policy_host = "mta-sts." + domain;
  std::optional<std::string> id;
  std::string problem;
  if (auto failed = failures_.record_failure(domain, NegativeCache::Clock::now())) {
    problem = remembered(*failed, NegativeCache::Clock::now());
  } else {
    auto txt = co_await resolver_.query_txt(record_name);
    problem = txt.error;
    if (txt.outcome == dns::Outcome::ok) id = record_id(txt.records, &problem);
    else if (!stopped_) failures_.record_failed(domain, txt.error, NegativeCache::Clock::now());
  }

  std::optional<CachedPolicy> cached;
  try {
    if (auto* c = cache()) cached = c->get(domain);
  } catch (const std::exception& e) {
    log::Event("mta_sts_error").add("domain", domain).add("error", std::string("policy cache: ") + e.what());
  }
  const auto now = std::chrono::system_clock::now();
  const bool usable = cached && cached->fresh(now);
  if (!id) {
    if (!problem.empty()) log::Event("mta_sts_error").add("domain", domain).add("error", problem);
    co_return usable ? std::optional<Policy>(cached->policy) : std::nullopt;
  }
  if (usable && cached->policy.id == *id) co_return cached->policy;

  FetchResult fetched;
  if (auto failed = failures_.fetch_failure(domain, *id, NegativeCache::Clock::now())) {
    fetched.error = remembered(*failed, NegativeCache::Clock::now());
  } else {
    auto host = co_await resolver_.resolve_host(policy_host);
    if (host.outcome != dns::Outcome::ok) {
      fetched.error = host.error;
    } else {
      std::vector<std::string> addresses;
      for (const auto& a : host.addresses) addresses.push_back(a.to_string());
      FetchResult got = co_await fetcher_.fetch(domain, std::move(addresses), port_, fetch_timeout_);
      fetched = std::move(got);
    }
    if (fetched.ok) {
      std::string why;
      if (auto policy = parse_policy(fetched.body, &why)) {
        policy->id = *id;
        failures_.fetched(domain);
        try {
          if (auto* c = cache()) c->put(domain, CachedPolicy{*policy, now});
        } catch (const std::exception& e) {
          log::Event("mta_sts_error").add("domain", domain).add("error", std::string("policy cache: ") + e.what());
        }
        std::string mx;
        for (const auto& m : policy->mx) mx += (mx.empty() ? "" : " ") + m;
        log::Event("mta_sts_policy")
            .add("domain", domain)
            .add("id", *id)
            .add("mode", std::string(mode_name(policy->mode)))
            .add("mx", mx)
            .add("max_age", static_cast<long long>(policy->max_age.count()));
        co_return policy;
      }
      fetched.error = policy_host + ": not a valid policy: " + why;
    }
    if (!stopped_) failures_.fetch_failed(domain, *id, fetched.error, NegativeCache::Clock::now());
  }
  log::Event("mta_sts_error")
      .add("domain", domain)
      .add("error", fetched.error)
      .add("using", usable ? "cached policy" : "no policy");
  co_return usable ? std::optional<Policy>(cached->policy) : std::nullopt;
}

}  // namespace postern::mta_sts
