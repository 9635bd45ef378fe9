// Runs `postern probe` (SPEC §14): probes SMTP hosts without ever sending a
// message (EHLO, STARTTLS, MAIL FROM:<>, RCPT, RSET, NOOP, QUIT only) and,
// for a domain, reads its DNS (MX, MTA-STS and its policy, TLSRPT, SPF,
// DMARC) through the project's resolver and MTA-STS fetcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probe/report.hpp"

namespace postern::probe {

struct Options {
  std::string target;                 // HOST[:PORT], [IPv6]:PORT, or a domain
  std::optional<std::uint16_t> port;  // --port
  std::string rcpt;                   // --rcpt
  std::optional<std::chrono::seconds> wait;  // --wait
  std::vector<std::string> dns_servers;      // empty: /etc/resolv.conf
  std::string helo_name;
  std::chrono::seconds timeout{20};
};

// Probes one host at `addresses` (names or literals, tried in order).
HostReport probe_host(const std::string& host, const std::vector<std::string>& addresses, std::uint16_t port,
                      const Options& options);

// The whole probe: a HOST:PORT target probes that host; a domain (no port,
// and it has MX records or addresses) has its DNS read and its MX hosts
// probed on port 25. Findings are filled in.
Report run(const Options& options);

struct Target {
  std::string host;
  std::uint16_t port = 25;
  bool explicit_port = false;
};
// "HOST", "HOST:PORT", "[v6]:PORT", "v6" (no port). Throws
// std::invalid_argument for a port that is not 1..65535.
Target split_target(const std::string& target);

// The p= tag of a DMARC record (RFC 7489 §6.3), lower case; "" when absent.
std::string dmarc_policy(const std::string& record);

// Whether a refused RCPT reads as greylisting: 450/451 with greylisting
// wording, or the enhanced code 4.2.0 or 4.7.1.
bool looks_greylisted(const smtp::Reply& reply);

}  // namespace postern::probe
