// What `postern probe` learns about a target: per host the greeting, EHLO
// keywords before and after STARTTLS, TLS and certificate, the STARTTLS
// injection check and the RCPT probe; for a domain its DNS records; and the
// findings, each a stable id from the knowledge base (explain/data/findings.toml).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "smtp/capabilities.hpp"
#include "smtp/reply.hpp"

namespace postern::probe {

struct Finding {
  std::string id;      // "auth_before_tls", ...
  std::string host;    // the host it concerns; empty for the domain's DNS
  std::string detail;  // facts seen, e.g. "AUTH PLAIN LOGIN before STARTTLS"
};

struct TlsResult {
  bool attempted = false;  // STARTTLS was sent
  bool ok = false;         // the handshake completed
  std::string error;       // why not
  std::string version;     // "TLSv1.3"
  std::string cipher;
  bool verified = false;   // chain and name
  std::string verify_error;
  std::string subject;
  std::string not_after;   // "2027-01-01T00:00:00Z"
  std::optional<long> days_left;
  std::string spki_sha256;  // SHA-256 of the served key (DANE selector 1, matching 1), hex
  std::string cert_sha256;  // SHA-256 of the served certificate (selector 0, matching 1), hex
};

struct RcptResult {
  std::string recipient;
  std::optional<smtp::Reply> mail;
  std::optional<smtp::Reply> rcpt;
  bool greylisted = false;
  std::optional<std::chrono::seconds> waited;
  std::optional<smtp::Reply> retry;  // RCPT after --wait
  std::string error;                 // the retry could not be made
  bool retry_passed() const { return retry && retry->code / 100 == 2; }
};

struct HostReport {
  std::string host;
  std::string address;  // the address that answered, or the last one tried
  std::uint16_t port = 25;
  bool answered = false;
  bool temporary = true;  // when not answered: whether trying later may help
  std::string error;
  std::optional<smtp::Reply> greeting;
  std::optional<smtp::Capabilities> before_tls;
  std::optional<smtp::Capabilities> after_tls;
  TlsResult tls;
  std::optional<bool> starttls_injection;  // nullopt: not checked
  std::string injection_note;
  std::optional<RcptResult> rcpt;
};

struct MtaSts {
  std::vector<std::string> records;
  std::string id;
  bool policy_ok = false;
  std::string mode;  // enforce | testing | none
  std::vector<std::string> mx;
  std::string error;
};

// DANE TLSA records at _25._tcp.<MX host> (RFC 7672).
struct DaneTlsa {
  std::string host;                  // the MX host
  std::vector<std::string> records;  // "3 1 1 <hex>"
  bool dnssec = false;               // the answer carried the AD bit
};

struct DomainReport {
  std::string domain;
  std::vector<std::string> mx;  // in the order tried, "10 mx.example.org"
  bool implicit_mx = false;
  std::string mx_error;
  MtaSts mta_sts;
  std::vector<std::string> tlsrpt;
  std::vector<std::string> spf;
  std::vector<std::string> dmarc;
  std::string dmarc_policy;
  std::vector<DaneTlsa> tlsa;  // one per MX host, in MX order
  std::vector<std::string> dns_errors;
};

struct Report {
  std::string target;
  std::optional<DomainReport> domain;
  std::vector<HostReport> hosts;
  std::vector<Finding> findings;

  bool any_answered() const;
  // 0 nothing wrong, 1 a finding, 69/75 no host answered (permanent/temporary).
  int exit_code() const;
};

// Adds the findings that follow from the facts in `report`.
void find(Report& report, std::chrono::system_clock::time_point now);

}  // namespace postern::probe
