// The HTTPS fetch of a policy file (RFC 8461 §3.3) with libcurl:
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt, the certificate verified
// for mta-sts.DOMAIN (system trust store; SSL_CERT_FILE overrides it, as
// for OpenSSL), no redirects, 200 with text/plain only, at most 64 KiB.
// Blocking: call it off the I/O threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace postern::mta_sts {

struct FetchResult {
  bool ok = false;
  std::string body;   // ok: the policy text
  std::string error;  // otherwise: one line a person reads
};

// `addresses`: where mta-sts.DOMAIN is (our own DNS lookup, so that
// [relay] dns_servers holds for it too); `port` 443 but for tests.
FetchResult fetch_policy(const std::string& domain, const std::vector<std::string>& addresses, std::uint16_t port,
                         std::chrono::milliseconds timeout);

// 443, unless POSTERN_MTA_STS_PORT names another port (for tests, whose
// policy servers cannot listen on 443).
std::uint16_t https_port_from_environment();

}  // namespace postern::mta_sts
