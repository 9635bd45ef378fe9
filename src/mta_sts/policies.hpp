// Which MTA-STS policy holds for a mail domain now (RFC 8461 §3.3, §5.1):
// the `_mta-sts.DOMAIN` record is read at each lookup; a cached policy
// with the same id and not past max_age is used as it is; otherwise the
// policy file is fetched (off the I/O thread) and cached. When the record
// is gone or DNS or the fetch fails, a cached policy still in date holds,
// so that an attacker who blocks the record or the fetch gains nothing.
//
// No domain waits for another's: fetches run concurrently (Fetcher), each
// within `fetch_timeout`; callers asking for the same domain at once share
// one lookup; a failed fetch (per record id) and a failed TXT lookup are
// remembered for `failure_hold` (NegativeCache), meanwhile the domain has
// its cached policy or none, at once.
//
// Threads: belongs to the executor it is given (the queue's, that of
// `resolver`); the cache is read and written there, fetches run on the
// Fetcher's thread.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "mta_sts/fetch.hpp"
#include "mta_sts/negative_cache.hpp"
#include "mta_sts/policy.hpp"

namespace postern::dns {
class Resolver;
}

namespace postern::mta_sts {

class Cache;

// RFC 8461 §3.3 suggests a timeout of a minute; a policy is a small static
// file, and a delivery waits for it, so 5 s (postfix-mta-sts-resolver: 4 s).
inline constexpr std::chrono::milliseconds default_fetch_timeout = std::chrono::seconds(5);
// §3.3: "five minutes or longer per version ID".
inline constexpr std::chrono::minutes failure_hold{5};

class Policies {
 public:
  // `database`: postern.db; opened on first use. `port`: 443 but for tests.
  Policies(asio::any_io_executor executor, dns::Resolver& resolver, std::filesystem::path database,
           std::uint16_t port, std::chrono::milliseconds fetch_timeout = default_fetch_timeout);
  ~Policies();
  Policies(const Policies&) = delete;
  Policies& operator=(const Policies&) = delete;

  // The policy of `domain` (lower case), or nullopt for none.
  asio::awaitable<std::optional<Policy>> lookup(std::string domain);

  // Fetches in progress end now (as failures); for shutting down.
  void stop();

 private:
  struct Shared;  // one lookup in progress, awaited by every caller for its domain

  asio::awaitable<std::optional<Policy>> look_up(std::string domain);
  void finish(const std::string& domain, Shared& shared, std::optional<Policy> policy);
  Cache* cache();  // nullptr when postern.db cannot be opened (logged)

  asio::any_io_executor executor_;
  dns::Resolver& resolver_;
  std::filesystem::path database_;
  std::uint16_t port_;
  std::chrono::milliseconds fetch_timeout_;
  bool stopped_ = false;
  std::unique_ptr<Cache> cache_;
  NegativeCache failures_{failure_hold};
  std::map<std::string, std::shared_ptr<Shared>> in_progress_;
  Fetcher fetcher_;  // last: its thread ends first
};

}  // namespace postern::mta_sts
