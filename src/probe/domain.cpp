// A domain's DNS, read with the project's resolver (c-ares, --dns) and its
// MTA-STS policy fetched with the queue's fetcher, then its MX hosts probed.
#include <arpa/inet.h>

#include <asio.hpp>

#include "dns/resolver.hpp"
#include "mta_sts/fetch.hpp"
#include "mta_sts/policies.hpp"
#include "mta_sts/policy.hpp"
#include "probe/probe.hpp"
#include "util/strings.hpp"

namespace postern::probe {
namespace {

std::uint16_t parse_port(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(text) == 0 || std::stoul(text) > 65535) {
    throw std::invalid_argument("bad port in the target: \"" + text + "\"");
  }
  return static_cast<std::uint16_t>(std::stoul(text));
}

}  // namespace

Target split_target(const std::string& target) {
  Target t;
  t.host = target;
  if (!target.empty() && target.front() == '[') {
    auto close = target.find(']');
    if (close != std::string::npos) {
      t.host = target.substr(1, close - 1);
      if (close + 1 < target.size() && target[close + 1] == ':') {
        t.port = parse_port(target.substr(close + 2));
        t.explicit_port = true;
      }
    }
    return t;
  }
  auto colon = target.find(':');
  if (colon != std::string::npos && target.find(':', colon + 1) == std::string::npos) {
    t.host = target.substr(0, colon);
    t.port = parse_port(target.substr(colon + 1));
    t.explicit_port = true;
  }
  return t;
}

namespace {

bool is_literal(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

std::vector<std::string> starting_with(const std::vector<std::string>& records, std::string_view prefix) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    std::string lower = r;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower.starts_with(prefix)) out.push_back(r);
  }
  return out;
}

}  // namespace

std::string dmarc_policy(const std::string& record) {
  std::size_t start = 0;
  while (start < record.size()) {
    auto end = record.find(';', start);
    std::string tag = record.substr(start, end == std::string::npos ? std::string::npos : end - start);
    auto eq = tag.find('=');
    if (eq != std::string::npos) {
      std::string name = tag.substr(0, eq), value = tag.substr(eq + 1);
      auto trim = [](std::string s) {
        auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
        s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
        for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return s;
      };
      if (trim(name) == "p") return trim(value);
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {};
}

namespace {

struct DomainLookup {
  DomainReport report;
  std::vector<std::pair<std::string, std::vector<std::string>>> hosts;  // MX host, addresses
  bool mail_domain = false;  // has MX records, or is a host with addresses
  bool permanent_failure = false;
};

asio::awaitable<void> read_domain(dns::Resolver& resolver, mta_sts::Fetcher& fetcher, std::string domain,
                                  DomainLookup& out) {
  auto& d = out.report;
  d.domain = domain;
  auto mx = co_await resolver.query_mx(domain);
  if (mx.outcome != dns::Outcome::ok) {
    d.mx_error = mx.error;
    out.permanent_failure = mx.outcome == dns::Outcome::permanent;
    co_return;
  }
  std::vector<dns::Resolver::MxRecord> records = dns::order_mx(mx.records, 0);
  if (records.empty()) {
    d.implicit_mx = true;
    records.push_back({0, domain});
  }
  for (const auto& r : records) {
    if (r.host.empty()) {
      d.mx_error = "null MX (RFC 7505): the domain accepts no mail";
      out.permanent_failure = true;
      co_return;
    }
    d.mx.push_back(std::to_string(r.preference) + " " + r.host);
    const std::string host = r.host;
    auto addresses = co_await resolver.resolve_host(host);
    std::vector<std::string> list;
    for (const auto& a : addresses.addresses) list.push_back(a.to_string());
    if (addresses.outcome != dns::Outcome::ok) d.dns_errors.push_back(addresses.error);
    if (!list.empty() || !d.implicit_mx) out.hosts.emplace_back(host, list);
    auto tlsa = co_await resolver.query_tlsa("_25._tcp." + host);
    if (tlsa.outcome != dns::Outcome::ok) d.dns_errors.push_back(tlsa.error);
    DaneTlsa dane{host, {}, tlsa.authentic_data};
    for (const auto& t : tlsa.records) dane.records.push_back(t.text());
    d.tlsa.push_back(std::move(dane));
  }
  out.mail_domain = !out.hosts.empty();
  if (d.implicit_mx && out.hosts.empty()) co_return;

  const std::string sts_name = "_mta-sts." + domain, rpt_name = "_smtp._tls." + domain,
                    dmarc_name = "_dmarc." + domain, policy_host = "mta-sts." + domain;
  auto sts = co_await resolver.query_txt(sts_name);
  if (sts.outcome != dns::Outcome::ok) d.dns_errors.push_back(sts.error);
  d.mta_sts.records = starting_with(sts.records, "v=stsv1");
  if (!d.mta_sts.records.empty()) {
    std::string why;
    auto id = mta_sts::record_id(sts.records, &why);
    if (!id) {
      d.mta_sts.error = "_mta-sts record: " + why;
    } else {
      d.mta_sts.id = *id;
      auto host = co_await resolver.resolve_host(policy_host);
      if (host.outcome != dns::Outcome::ok) {
        d.mta_sts.error = host.error;
      } else {
        std::vector<std::string> addresses;
        for (const auto& a : host.addresses) addresses.push_back(a.to_string());
        auto fetched = co_await fetcher.fetch(domain, std::move(addresses), mta_sts::https_port_from_environment(),
                                              mta_sts::default_fetch_timeout);
        if (!fetched.ok) {
          d.mta_sts.error = fetched.error;
        } else if (auto policy = mta_sts::parse_policy(fetched.body, &why)) {
          d.mta_sts.policy_ok = true;
          d.mta_sts.mode = std::string(mta_sts::mode_name(policy->mode));
          d.mta_sts.mx = policy->mx;
        } else {
          d.mta_sts.error = policy_host + ": not a valid policy: " + why;
        }
      }
    }
  }
  auto rpt = co_await resolver.query_txt(rpt_name);
  if (rpt.outcome != dns::Outcome::ok) d.dns_errors.push_back(rpt.error);
  d.tlsrpt = starting_with(rpt.records, "v=tlsrptv1");
  auto spf = co_await resolver.query_txt(domain);
  if (spf.outcome != dns::Outcome::ok) d.dns_errors.push_back(spf.error);
  d.spf = starting_with(spf.records, "v=spf1");
  auto dmarc = co_await resolver.query_txt(dmarc_name);
  if (dmarc.outcome != dns::Outcome::ok) d.dns_errors.push_back(dmarc.error);
  d.dmarc = starting_with(dmarc.records, "v=dmarc1");
  if (!d.dmarc.empty()) d.dmarc_policy = dmarc_policy(d.dmarc.front());
}

}  // namespace

Report run(const Options& options) {
  Report report;
  report.target = options.target;
  const Target t = split_target(options.target);
  // --port applies to the host named, or to every MX host of a domain.
  const std::uint16_t port = t.explicit_port ? t.port : options.port.value_or(25);
  if (!t.explicit_port && !is_literal(t.host) && t.host != "localhost") {
    DomainLookup lookup;
    {
      asio::io_context io;
      dns::Resolver resolver(io.get_executor(), options.dns_servers);
      mta_sts::Fetcher fetcher(io.get_executor());
      asio::co_spawn(io, read_domain(resolver, fetcher, t.host, lookup), asio::detached);
      io.run();
    }
    if (lookup.mail_domain) {
      report.domain = lookup.report;
      for (const auto& [host, addresses] : lookup.hosts) {
        if (addresses.empty()) {
          HostReport h;
          h.host = host;
          h.port = port;
          h.error = "no address";
          report.hosts.push_back(h);
          continue;
        }
        report.hosts.push_back(probe_host(host, addresses, port, options));
      }
      find(report, std::chrono::system_clock::now());
      return report;
    }
    if (!lookup.report.mx_error.empty() && !options.port) {
      report.domain = lookup.report;
      HostReport h;
      h.host = t.host;
      h.port = port;
      h.error = lookup.report.mx_error;
      h.temporary = !lookup.permanent_failure;
      report.hosts.push_back(h);
      find(report, std::chrono::system_clock::now());
      return report;
    }
  }
  report.hosts.push_back(probe_host(t.host, {t.host}, port, options));
  find(report, std::chrono::system_clock::now());
  return report;
}

}  // namespace postern::probe
