// Which MTA-STS policy holds for a mail domain now (RFC 8461 §3.3, §5.1):
// the `_mta-sts.DOMAIN` record is read at each lookup; a cached policy
// with the same id and not past max_age is used as it is; otherwise the
// policy file is fetched (off the I/O thread) and cached. When the record
// is gone or DNS or the fetch fails, a cached policy still in date holds,
// so that an attacker who blocks the record or the fetch gains nothing.
//
// Threads: belongs to the executor of `resolver` (the queue's); the cache
// is read and written there, the fetch runs on a thread of its own.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "mta_sts/policy.hpp"

namespace postern::dns {
class Resolver;
}

namespace postern::mta_sts {

class Cache;

class Policies {
 public:
  // `database`: postern.db; opened on first use. `port`: 443 but for tests.
  Policies(dns::Resolver& resolver, std::filesystem::path database, std::uint16_t port,
           std::chrono::milliseconds fetch_timeout = std::chrono::seconds(20));
  ~Policies();

  // The policy of `domain` (lower case), or nullopt for none.
  asio::awaitable<std::optional<Policy>> lookup(std::string domain);

 private:
  Cache* cache();  // nullptr when postern.db cannot be opened (logged)

  dns::Resolver& resolver_;
  std::filesystem::path database_;
  std::uint16_t port_;
  std::chrono::milliseconds fetch_timeout_;
  asio::thread_pool fetcher_{1};
  std::unique_ptr<Cache> cache_;
};

}  // namespace postern::mta_sts
