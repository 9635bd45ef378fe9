#include "mta_sts/policies.hpp"

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "mta_sts/cache.hpp"
#include "mta_sts/fetch.hpp"

namespace postern::mta_sts {

Policies::Policies(dns::Resolver& resolver, std::filesystem::path database, std::uint16_t port,
                   std::chrono::milliseconds fetch_timeout)
    : resolver_(resolver), database_(std::move(database)), port_(port), fetch_timeout_(fetch_timeout) {}

Policies::~Policies() {
  fetcher_.stop();
  fetcher_.join();
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
  // Named, not temporaries: GCC 12 destroys temporaries in a co_await expression twice.
  const std::string record_name = "_mta-sts." + domain, policy_host = "mta-sts." + domain;
  auto txt = co_await resolver_.query_txt(record_name);
  std::string problem = txt.error;
  const auto id = txt.outcome == dns::Outcome::ok ? record_id(txt.records, &problem) : std::nullopt;

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
  auto host = co_await resolver_.resolve_host(policy_host);
  if (host.outcome != dns::Outcome::ok) {
    fetched.error = host.error;
  } else {
    std::vector<std::string> addresses;
    for (const auto& a : host.addresses) addresses.push_back(a.to_string());
    // libcurl blocks: the fetch runs on its own thread; this coroutine resumes here after it.
    auto fetch = [&]() -> asio::awaitable<FetchResult> { co_return fetch_policy(domain, addresses, port_, fetch_timeout_); };
    FetchResult got = co_await asio::co_spawn(fetcher_, fetch, asio::use_awaitable);
    fetched = std::move(got);
  }
  if (fetched.ok) {
    std::string why;
    if (auto policy = parse_policy(fetched.body, &why)) {
      policy->id = *id;
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
  log::Event("mta_sts_error")
      .add("domain", domain)
      .add("error", fetched.error)
      .add("using", usable ? "cached policy" : "no policy");
  co_return usable ? std::optional<Policy>(cached->policy) : std::nullopt;
}

}  // namespace postern::mta_sts
