#include "probe/render.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace postern::probe {
namespace {

using explain::label;
using explain::Lang;
using nlohmann::json;

std::string L(std::string_view key, Lang lang) { return std::string(label(key, lang)); }

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : " ") + i;
  return out;
}

std::vector<std::string> plus_variants(const smtp::Capabilities& caps) {
  std::vector<std::string> out;
  for (const auto& m : caps.auth) {
    if (m.ends_with("-PLUS")) out.push_back(m);
  }
  return out;
}

json reply_json(const std::optional<smtp::Reply>& r, Lang lang) {
  if (!r) return nullptr;
  return {{"code", r->code},
          {"enhanced", r->enhanced},
          {"text", r->text()},
          {"explanation", explain::short_meaning(r->code, r->enhanced, r->text(), lang)}};
}

json caps_json(const std::optional<smtp::Capabilities>& c) {
  if (!c) return nullptr;
  return {{"keywords", c->keywords},
          {"auth", c->auth},
          {"auth_plus", plus_variants(*c)},
          {"size", c->size ? json(*c->size) : json(nullptr)},
          {"starttls", c->starttls},
          {"pipelining", c->pipelining},
          {"chunking", c->chunking},
          {"smtputf8", c->smtputf8},
          {"requiretls", c->has("REQUIRETLS")},
          {"enhancedstatuscodes", c->enhanced_status}};
}

std::string reply_line(const smtp::Reply& r, Lang lang) {
  return r.summary() + "\n      → " + explain::short_meaning(r.code, r.enhanced, r.text(), lang);
}

void caps_text(std::string& out, std::string_view heading, const smtp::Capabilities& c, Lang lang) {
  auto yn = [&](bool b) { return L(b ? "probe_yes" : "probe_no", lang); };
  out += "  " + std::string(heading) + ": " + joined(c.keywords) + "\n";
  out += "    " + L("probe_auth", lang) + ": " + (c.auth.empty() ? L("probe_none", lang) : joined(c.auth));
  auto plus = plus_variants(c);
  if (!plus.empty()) out += "; " + L("probe_plus", lang) + ": " + joined(plus);
  out += "\n    " + L("probe_extensions", lang) + ": SIZE " +
         (c.size ? std::to_string(*c.size) : L("probe_no", lang)) + ", PIPELINING " + yn(c.pipelining) +
         ", CHUNKING " + yn(c.chunking) + ", SMTPUTF8 " + yn(c.smtputf8) + ", REQUIRETLS " +
         yn(c.has("REQUIRETLS")) + ", ENHANCEDSTATUSCODES " + yn(c.enhanced_status) + "\n";
}

void host_text(std::string& out, const HostReport& h, Lang lang) {
  out += L("probe_host", lang) + " " + h.host + (h.address.empty() || h.address == h.host ? "" : " (" + h.address + ")") +
         " " + L("probe_port", lang) + " " + std::to_string(h.port) + "\n";
  if (!h.answered) {
    if (h.greeting)  // it answered, refusing: the reply, explained
      out += "  " + L("probe_greeting", lang) + ": " + reply_line(*h.greeting, lang) + "\n\n";
    else
      out += "  " + L("probe_no_answer", lang) + ": " + h.error + "\n\n";
    return;
  }
  if (h.greeting) out += "  " + L("probe_greeting", lang) + ": " + reply_line(*h.greeting, lang) + "\n";
  if (h.before_tls) caps_text(out, L("probe_before_tls", lang), *h.before_tls, lang);
  if (h.tls.attempted) {
    out += "  " + L("probe_tls", lang) + ": ";
    if (!h.tls.ok) {
      out += L("probe_tls_failed", lang) + ": " + h.tls.error + "\n";
    } else {
      out += h.tls.version + " " + h.tls.cipher + "\n";
      out += "  " + L("probe_certificate", lang) + ": " + h.tls.subject + ", " +
             (h.tls.verified ? L("probe_verified", lang) : L("probe_not_verified", lang) + " (" + h.tls.verify_error + ")") +
             ", " + L("probe_valid_until", lang) + " " + h.tls.not_after;
      if (h.tls.days_left)
        out += " (" + std::to_string(*h.tls.days_left) + " " +
               L(*h.tls.days_left == 1 ? "probe_day_left" : "probe_days_left", lang) + ")";
      out += "\n";
    }
  }
  if (h.after_tls) caps_text(out, L("probe_after_tls", lang), *h.after_tls, lang);
  if (h.tls.ok) {
    out += "  " + L("probe_injection", lang) + ": " +
           (!h.starttls_injection ? L("probe_not_checked", lang)
            : *h.starttls_injection ? L("probe_injection_accepted", lang)
                                    : L("probe_injection_refused", lang)) +
           " (" + h.injection_note + ")\n";
  }
  if (!h.error.empty()) out += "  " + h.error + "\n";
  if (h.rcpt) {
    const auto& r = *h.rcpt;
    out += "  " + L("probe_rcpt", lang) + ":\n";
    if (r.mail) out += "    MAIL FROM:<>: " + reply_line(*r.mail, lang) + "\n";
    if (r.rcpt) {
      out += "    RCPT TO:<" + r.recipient + ">: " + reply_line(*r.rcpt, lang) + "\n";
      if (r.greylisted) out += "      (" + L("probe_greylisted", lang) + ")\n";
    }
    if (r.retry) {
      out += "    " + L("probe_retry_after", lang) + " " + std::to_string(r.waited->count()) + " s: " +
             reply_line(*r.retry, lang) + "\n      (" +
             L(r.retry_passed() ? "probe_retry_passed" : "probe_retry_refused", lang) + ")\n";
    }
    if (!r.error.empty()) out += "    " + r.error + "\n";
  }
  out += "\n";
}

void domain_text(std::string& out, const DomainReport& d, Lang lang) {
  auto list = [&](const std::vector<std::string>& v) { return v.empty() ? L("probe_missing", lang) : joined(v); };
  out += L("probe_domain", lang) + " " + d.domain + "\n";
  if (!d.mx_error.empty()) {
    out += "  MX: " + d.mx_error + "\n\n";
    return;
  }
  out += "  MX: " + (d.implicit_mx ? L("probe_implicit_mx", lang) : joined(d.mx)) + "\n";
  out += "  MTA-STS: " + list(d.mta_sts.records);
  if (d.mta_sts.policy_ok) {
    out += "; " + L("probe_policy", lang) + ": mode " + d.mta_sts.mode + ", mx " + joined(d.mta_sts.mx);
  } else if (!d.mta_sts.error.empty()) {
    out += "; " + L("probe_policy", lang) + ": " + d.mta_sts.error;
  }
  out += "\n  TLSRPT: " + list(d.tlsrpt) + "\n  SPF: " + list(d.spf) + "\n  DMARC: " + list(d.dmarc) + "\n";
  for (const auto& t : d.tlsa) {
    out += "  TLSA _25._tcp." + t.host + ": " + list(t.records);
    if (!t.records.empty()) out += std::string("; DNSSEC: ") + (t.dnssec ? "AD" : "no AD");
    out += "\n";
  }
  for (const auto& e : d.dns_errors) out += "  DNS: " + e + "\n";
  out += "\n";
}

}  // namespace

std::string render_text(const Report& report, Lang lang) {
  std::string out = "postern probe " + report.target + "\n\n";
  if (report.domain) domain_text(out, *report.domain, lang);
  for (const auto& h : report.hosts) host_text(out, h, lang);
  const bool served = std::any_of(report.hosts.begin(), report.hosts.end(), [](const HostReport& h) { return h.answered; });
  if (report.findings.empty() && !served) {
    out += L("probe_nothing_checked", lang) + "\n";
  } else if (report.findings.empty()) {
    out += L("probe_no_findings", lang) + "\n";
  } else {
    out += L("probe_findings", lang) + " (" + std::to_string(report.findings.size()) + ")\n";
    for (const auto& f : report.findings) {
      auto text = explain::finding(f.id, lang);
      out += "  [" + (text ? text->severity : std::string("warning")) + "] " + f.id;
      if (text) out += ": " + text->title;
      if (!f.host.empty()) out += " (" + f.host + ")";
      out += "\n";
      if (!f.detail.empty()) out += "    " + L("probe_seen", lang) + ": " + f.detail + "\n";
      if (text) {
        out += "    " + L("meaning", lang) + ": " + text->meaning + "\n";
        out += "    " + L("probe_advice", lang) + ": " + text->advice + "\n";
      }
    }
  }
  out += L("probe_bare_lf", lang) + "\n";
  return out;
}

std::string render_json(const Report& report, Lang lang) {
  json j;
  j["schema"] = "postern-probe/1";
  j["target"] = report.target;
  j["lang"] = std::string(explain::lang_name(lang));
  j["exit_code"] = report.exit_code();
  if (report.domain) {
    const auto& d = *report.domain;
    j["domain"] = {{"domain", d.domain},
                   {"mx", d.mx},
                   {"implicit_mx", d.implicit_mx},
                   {"mx_error", d.mx_error},
                   {"mta_sts",
                    {{"records", d.mta_sts.records},
                     {"id", d.mta_sts.id},
                     {"policy_ok", d.mta_sts.policy_ok},
                     {"mode", d.mta_sts.mode},
                     {"mx", d.mta_sts.mx},
                     {"error", d.mta_sts.error}}},
                   {"tlsrpt", d.tlsrpt},
                   {"spf", d.spf},
                   {"dmarc", d.dmarc},
                   {"dmarc_policy", d.dmarc_policy},
                   {"dns_errors", d.dns_errors}};
    j["domain"]["tlsa"] = json::array();
    for (const auto& t : d.tlsa) {
      j["domain"]["tlsa"].push_back({{"host", t.host},
                                     {"dane", t.records.empty() ? "none" : "present"},
                                     {"records", t.records},
                                     {"dnssec", t.dnssec}});
    }
  } else {
    j["domain"] = nullptr;
  }
  j["hosts"] = json::array();
  for (const auto& h : report.hosts) {
    json host = {{"host", h.host},
                 {"address", h.address},
                 {"port", h.port},
                 {"answered", h.answered},
                 {"error", h.error},
                 {"greeting", reply_json(h.greeting, lang)},
                 {"ehlo_before_tls", caps_json(h.before_tls)},
                 {"ehlo_after_tls", caps_json(h.after_tls)},
                 {"tls",
                  {{"attempted", h.tls.attempted},
                   {"ok", h.tls.ok},
                   {"error", h.tls.error},
                   {"version", h.tls.version},
                   {"cipher", h.tls.cipher},
                   {"verified", h.tls.verified},
                   {"verify_error", h.tls.verify_error},
                   {"subject", h.tls.subject},
                   {"not_after", h.tls.not_after},
                   {"days_left", h.tls.days_left ? json(*h.tls.days_left) : json(nullptr)}}},
                 {"starttls_injection", h.starttls_injection ? json(*h.starttls_injection) : json(nullptr)},
                 {"injection_note", h.injection_note}};
    if (h.rcpt) {
      const auto& r = *h.rcpt;
      host["rcpt"] = {{"recipient", r.recipient},
                      {"mail", reply_json(r.mail, lang)},
                      {"rcpt", reply_json(r.rcpt, lang)},
                      {"greylisted", r.greylisted},
                      {"waited_seconds", r.waited ? json(r.waited->count()) : json(nullptr)},
                      {"retry", reply_json(r.retry, lang)},
                      {"retry_passed", r.retry_passed()},
                      {"error", r.error}};
    } else {
      host["rcpt"] = nullptr;
    }
    j["hosts"].push_back(host);
  }
  j["findings"] = json::array();
  for (const auto& f : report.findings) {
    auto text = explain::finding(f.id, lang);
    j["findings"].push_back({{"id", f.id},
                             {"severity", text ? text->severity : "warning"},
                             {"host", f.host},
                             {"detail", f.detail},
                             {"title", text ? text->title : f.id},
                             {"meaning", text ? text->meaning : ""},
                             {"advice", text ? text->advice : ""}});
  }
  return j.dump(2) + "\n";
}

}  // namespace postern::probe
