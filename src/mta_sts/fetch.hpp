// The HTTPS fetch of a policy file (RFC 8461 §3.3) with libcurl:
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt, the certificate verified
// for mta-sts.DOMAIN (system trust store; SSL_CERT_FILE overrides it, as
// for OpenSSL), no redirects, 200 with text/plain only, at most 64 KiB.
//
// All fetches run at once on one thread of their own (libcurl's multi
// interface), so a policy host that never answers delays only its own
// domain, and only until the fetch's timeout. How many run at once is
// bounded by the callers: the queue asks for one domain at a time per
// connection slot, and Policies shares one fetch among a domain's callers.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace postern::mta_sts {

struct FetchResult {
  bool ok = false;
  std::string body;   // ok: the policy text
  std::string error;  // otherwise: one line a person reads
};

class Fetcher {
 public:
  // Completions resume on `executor` (the queue's io_context).
  explicit Fetcher(asio::any_io_executor executor);
  ~Fetcher();  // ends fetches in progress; call it before the executor's context goes
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // `addresses`: where mta-sts.DOMAIN is (our own DNS lookup, so that
  // [relay] dns_servers holds for it too); `port` 443 but for tests.
  asio::awaitable<FetchResult> fetch(std::string domain, std::vector<std::string> addresses, std::uint16_t port,
                                     std::chrono::milliseconds timeout);

  // Fetches in progress end now as failures, later ones fail at once.
  // Any thread.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// 443, unless POSTERN_MTA_STS_PORT names another port (for tests, whose
// policy servers cannot listen on 443).
std::uint16_t https_port_from_environment();

}  // namespace postern::mta_sts
