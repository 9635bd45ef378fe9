#include <algorithm>

#include "probe/report.hpp"

namespace postern::probe {
namespace {

// Mechanisms that send the password itself (RFC 4616, the LOGIN draft).
bool plaintext_mechanism(const std::string& m) { return m == "PLAIN" || m == "LOGIN"; }

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : " ") + i;
  return out;
}

void host_findings(const HostReport& h, std::chrono::system_clock::time_point, std::vector<Finding>& out) {
  // Greeted, then closed, went silent or refused EHLO: nothing after the greeting could be checked.
  if (h.answered && !h.error.empty()) out.push_back({"dialogue_failed", h.host, h.error});
  if (!h.answered || !h.before_tls) return;
  const auto& before = *h.before_tls;
  std::vector<std::string> clear;
  for (const auto& m : before.auth) {
    if (plaintext_mechanism(m)) clear.push_back(m);
  }
  if (!clear.empty()) out.push_back({"auth_before_tls", h.host, "AUTH " + joined(clear) + " offered before STARTTLS"});
  if (!before.starttls) out.push_back({"no_starttls", h.host, "EHLO does not list STARTTLS"});
  if (h.tls.attempted && !h.tls.ok) out.push_back({"starttls_failed", h.host, h.tls.error});
  if (h.tls.ok) {
    if (h.tls.version == "TLSv1" || h.tls.version == "TLSv1.1" || h.tls.version.starts_with("SSL")) {
      out.push_back({"tls_below_1_2", h.host, h.tls.version});
    }
    if (!h.tls.verified) out.push_back({"certificate_not_verified", h.host, h.tls.verify_error});
    if (h.tls.days_left && *h.tls.days_left < 14) {
      out.push_back({"certificate_expires_soon", h.host, "not after " + h.tls.not_after});
    }
  }
  if (h.starttls_injection.value_or(false)) out.push_back({"starttls_injection", h.host, h.injection_note});
  const auto& last = h.after_tls ? *h.after_tls : before;
  if (!last.enhanced_status) out.push_back({"no_enhancedstatuscodes", h.host, "EHLO does not list ENHANCEDSTATUSCODES"});
  if (h.rcpt && h.rcpt->greylisted) {
    std::string detail = h.rcpt->rcpt->summary();
    if (h.rcpt->retry) {
      detail += "; after " + std::to_string(h.rcpt->waited->count()) + " s: " + h.rcpt->retry->summary() +
                (h.rcpt->retry_passed() ? " (the retry passed)" : " (the retry was refused)");
    }
    out.push_back({"greylisting", h.host, detail});
  }
}

void domain_findings(const DomainReport& d, std::vector<Finding>& out) {
  if (!d.mta_sts.records.empty() && !d.mta_sts.policy_ok) {
    out.push_back({"mta_sts_policy_invalid", "", d.mta_sts.error});
  }
  if (d.mta_sts.policy_ok && d.mta_sts.mode == "testing") out.push_back({"mta_sts_testing", "", "mode: testing"});
  if (d.tlsrpt.empty()) out.push_back({"no_tlsrpt", "", "no v=TLSRPTv1 TXT record at _smtp._tls." + d.domain});
  if (d.spf.empty()) out.push_back({"spf_missing", "", "no v=spf1 TXT record at " + d.domain});
  if (d.dmarc.empty()) {
    out.push_back({"dmarc_missing", "", "no v=DMARC1 TXT record at _dmarc." + d.domain});
  } else if (d.dmarc_policy == "none") {
    out.push_back({"dmarc_none", "", d.dmarc.front()});
  }
}


}  // namespace

bool Report::any_answered() const {
  return std::any_of(hosts.begin(), hosts.end(), [](const HostReport& h) { return h.answered; });
}

int Report::exit_code() const {
  if (!any_answered()) {
    bool temporary = std::any_of(hosts.begin(), hosts.end(), [](const HostReport& h) { return h.temporary; });
    return temporary ? 75 : 69;
  }
  return findings.empty() ? 0 : 1;
}

namespace {

// DANE-EE (usage 3) with SHA-256 of the key or the certificate can be
// checked against what the host served; other usages need the chain.
void dane_findings(const DomainReport& d, const std::vector<HostReport>& hosts, std::vector<Finding>& out) {
  for (const auto& t : d.tlsa) {
    auto h = std::find_if(hosts.begin(), hosts.end(),
                          [&](const HostReport& r) { return r.host == t.host && r.tls.ok; });
    if (h == hosts.end() || h->tls.spki_sha256.empty()) continue;
    bool checkable = false, matched = false;
    for (const auto& r : t.records) {
      if (r.starts_with("3 1 1 ")) checkable = true, matched |= r.substr(6) == h->tls.spki_sha256;
      if (r.starts_with("3 0 1 ")) checkable = true, matched |= r.substr(6) == h->tls.cert_sha256;
    }
    if (checkable && !matched) {
      out.push_back({"dane_mismatch", t.host, "served key SHA-256 " + h->tls.spki_sha256 + " matches no TLSA record"});
    }
  }
}

}  // namespace

void find(Report& report, std::chrono::system_clock::time_point now) {
  report.findings.clear();
  if (report.domain && report.domain->mx_error.empty()) domain_findings(*report.domain, report.findings);
  if (report.domain) dane_findings(*report.domain, report.hosts, report.findings);
  for (const auto& h : report.hosts) host_findings(h, now, report.findings);
}

}  // namespace postern::probe
