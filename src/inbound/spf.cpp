#include "inbound/spf.hpp"

#include <algorithm>
#include <variant>

#include "inbound/spf_record.hpp"
#include "util/strings.hpp"

namespace postern::inbound::spf {

std::string_view to_string(Result result) {
  switch (result) {
    case Result::none: return "none";
    case Result::neutral: return "neutral";
    case Result::pass: return "pass";
    case Result::fail: return "fail";
    case Result::softfail: return "softfail";
    case Result::temperror: return "temperror";
    case Result::permerror: return "permerror";
  }
  return "none";
}

namespace {

constexpr unsigned max_dns_terms = 10;    // §4.6.4
constexpr unsigned max_void_lookups = 2;  // §4.6.4
constexpr unsigned max_names_per_term = 10;

using Status = DnsAnswer::Status;

// A result that ends the evaluation early (permerror, temperror).
struct Abort {
  Result result;
  std::string problem;
};

asio::ip::address plain(asio::ip::address ip) {
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
  return ip;
}

bool in_network(const asio::ip::address& ip, const asio::ip::address& network, unsigned bits) {
  if (ip.is_v4() != network.is_v4()) return false;
  std::array<unsigned char, 16> a{}, b{};
  std::size_t n;
  if (ip.is_v4()) {
    auto x = ip.to_v4().to_bytes(), y = network.to_v4().to_bytes();
    std::copy(x.begin(), x.end(), a.begin());
    std::copy(y.begin(), y.end(), b.begin());
    n = 4;
  } else {
    auto x = ip.to_v6().to_bytes(), y = network.to_v6().to_bytes();
    std::copy(x.begin(), x.end(), a.begin());
    std::copy(y.begin(), y.end(), b.begin());
    n = 16;
  }
  for (std::size_t i = 0; i < n && bits > 0; ++i) {
    const unsigned take = std::min(bits, 8u);
    const unsigned char mask = static_cast<unsigned char>(0xff << (8 - take));
    if ((a[i] & mask) != (b[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

std::string strip_dot(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  return util::to_lower(s);
}

class Evaluator {
 public:
  Evaluator(DnsSource& dns, const Query& q) : dns_(dns), q_(q), ip_(plain(q.ip)) {}

  unsigned lookups() const { return terms_; }

  // check_host() for `domain`; `sender` stays the same through include and redirect.
  asio::awaitable<std::variant<Result, Abort>> check(std::string domain, Outcome& out, bool top) {
    if (!valid_domain(domain)) co_return Result::none;
    auto txt = co_await dns_.txt(domain);
    if (txt.status == Status::error) co_return Abort{Result::temperror, domain + ": TXT lookup failed"};
    std::vector<std::string> records;
    for (auto& r : txt.records)
      if (is_spf_record(r)) records.push_back(r);
    if (records.empty()) co_return Result::none;
    if (records.size() > 1) co_return Abort{Result::permerror, domain + ": more than one SPF record"};
    auto parsed = parse_record(records.front());
    if (auto* e = std::get_if<std::string>(&parsed)) co_return Abort{Result::permerror, domain + ": " + *e};
    const Record& record = std::get<Record>(parsed);

    MacroContext ctx = context(domain);
    for (const auto& m : record.mechanisms) {
      auto matched = co_await match(m, ctx);
      if (auto* a = std::get_if<Abort>(&matched)) co_return *a;
      if (!std::get<bool>(matched)) continue;
      const Result r = m.qualifier == Qualifier::pass       ? Result::pass
                       : m.qualifier == Qualifier::fail     ? Result::fail
                       : m.qualifier == Qualifier::softfail ? Result::softfail
                                                            : Result::neutral;
      if (r == Result::fail && record.exp && top_exp_allowed(top)) out.explanation = co_await explain(*record.exp, ctx);
      co_return r;
    }
    if (record.redirect) {
      if (auto a = count_term()) co_return *a;
      if (uses_p(*record.redirect)) ctx.validated = co_await validated_name(ctx.domain);
      auto target = expand(*record.redirect, ctx);
      if (!target) co_return Abort{Result::permerror, "redirect=: bad macro"};
      auto r = co_await check(strip_dot(*target), out, top);
      if (auto* res = std::get_if<Result>(&r); res && *res == Result::none)
        co_return Abort{Result::permerror, *target + ": redirect= target has no SPF record"};
      co_return r;
    }
    co_return Result::neutral;
  }

 private:
  // exp= is read for the fail of the record the query began with, or of a
  // redirect= target (§6.2: its exp= replaces the first's); not inside include.
  bool top_exp_allowed(bool top) const { return top; }

  MacroContext context(const std::string& domain) const {
    MacroContext c;
    c.sender = q_.sender;
    c.domain = domain;
    c.ip = ip_;
    c.helo = q_.helo;
    c.receiver = q_.receiver;
    c.timestamp = q_.timestamp;
    return c;
  }

  std::optional<Abort> count_term() {
    if (++terms_ > max_dns_terms) return Abort{Result::permerror, "more than 10 DNS-querying terms"};
    return std::nullopt;
  }

  std::optional<Abort> count_void(const DnsAnswer& a) {
    if (a.status == Status::none && ++voids_ > max_void_lookups)
      return Abort{Result::permerror, "more than 2 void lookups"};
    return std::nullopt;
  }

  asio::awaitable<std::variant<std::string, Abort>> target(const Mechanism& m, MacroContext& ctx) {
    if (m.domain_spec.empty()) co_return ctx.domain;
    if (uses_p(m.domain_spec)) ctx.validated = co_await validated_name(ctx.domain);
    auto t = expand(m.domain_spec, ctx);
    if (!t) co_return Abort{Result::permerror, "bad macro in \"" + m.domain_spec + "\""};
    co_return strip_dot(*t);
  }

  // Whether the client's address is among `name`'s A or AAAA records, within the CIDR length.
  asio::awaitable<std::variant<bool, Abort>> address_match(const std::string& name, const Mechanism& m, bool counts_void) {
    if (!valid_domain(name)) co_return false;
    auto a = co_await dns_.addresses(name, ip_.is_v6());
    if (a.status == Status::error) co_return Abort{Result::temperror, name + ": address lookup failed"};
    if (counts_void)
      if (auto v = count_void(a)) co_return *v;
    const unsigned bits = ip_.is_v4() ? m.cidr4 : m.cidr6;
    for (const auto& text : a.records) {
      asio::error_code ec;
      auto addr = asio::ip::make_address(text, ec);
      if (!ec && in_network(ip_, plain(addr), bits)) co_return true;
    }
    co_return false;
  }

  asio::awaitable<std::variant<bool, Abort>> match(const Mechanism& m, MacroContext& ctx) {
    using Kind = Mechanism::Kind;
    switch (m.kind) {
      case Kind::all:
        co_return true;
      case Kind::ip4:
      case Kind::ip6:
        co_return in_network(ip_, m.network, m.kind == Kind::ip4 ? m.cidr4 : m.cidr6);
      case Kind::a: {
        if (auto a = count_term()) co_return *a;
        auto t = co_await target(m, ctx);
        if (auto* a = std::get_if<Abort>(&t)) co_return *a;
        co_return co_await address_match(std::get<std::string>(t), m, true);
      }
      case Kind::mx: {
        if (auto a = count_term()) co_return *a;
        auto t = co_await target(m, ctx);
        if (auto* a = std::get_if<Abort>(&t)) co_return *a;
        const auto& name = std::get<std::string>(t);
        if (!valid_domain(name)) co_return false;
        auto mx = co_await dns_.mx(name);
        if (mx.status == Status::error) co_return Abort{Result::temperror, name + ": MX lookup failed"};
        if (auto v = count_void(mx)) co_return *v;
        if (mx.records.size() > max_names_per_term) co_return Abort{Result::permerror, name + ": more than 10 MX records"};
        for (const auto& host : mx.records) {
          auto r = co_await address_match(strip_dot(host), m, false);
          if (std::holds_alternative<Abort>(r) || std::get<bool>(r)) co_return r;
        }
        co_return false;
      }
      case Kind::ptr: {
        if (auto a = count_term()) co_return *a;
        auto t = co_await target(m, ctx);
        if (auto* a = std::get_if<Abort>(&t)) co_return *a;
        const auto& want = std::get<std::string>(t);
        auto names = co_await validated_names(true);
        if (auto* a = std::get_if<Abort>(&names)) co_return *a;
        for (const auto& n : std::get<std::vector<std::string>>(names))
          if (n == want || (n.size() > want.size() && n.ends_with("." + want))) co_return true;
        co_return false;
      }
      case Kind::exists: {
        if (auto a = count_term()) co_return *a;
        auto t = co_await target(m, ctx);
        if (auto* a = std::get_if<Abort>(&t)) co_return *a;
        const auto& name = std::get<std::string>(t);
        if (!valid_domain(name)) co_return false;
        auto a = co_await dns_.addresses(name, false);  // always A (§5.7)
        if (a.status == Status::error) co_return Abort{Result::temperror, name + ": A lookup failed"};
        if (auto v = count_void(a)) co_return *v;
        co_return !a.records.empty();
      }
      case Kind::include: {
        if (auto a = count_term()) co_return *a;
        auto t = co_await target(m, ctx);
        if (auto* a = std::get_if<Abort>(&t)) co_return *a;
        Outcome ignored;
        auto r = co_await check(std::get<std::string>(t), ignored, false);
        if (auto* a = std::get_if<Abort>(&r)) co_return *a;
        switch (std::get<Result>(r)) {
          case Result::pass: co_return true;
          case Result::none: co_return Abort{Result::permerror, std::get<std::string>(t) + ": include target has no SPF record"};
          default: co_return false;
        }
      }
    }
    co_return false;
  }

  // The client's PTR names whose A/AAAA records include its address (§5.5);
  // errors after the PTR lookup itself count as no match.
  asio::awaitable<std::variant<std::vector<std::string>, Abort>> validated_names(bool strict) {
    std::vector<std::string> out;
    auto ptr = co_await dns_.ptr(ip_);
    if (ptr.status == Status::error) {
      if (strict) co_return Abort{Result::temperror, "PTR lookup failed"};
      co_return out;
    }
    std::vector<std::string> names;
    for (auto& n : ptr.records) {
      auto s = strip_dot(n);
      if (std::find(names.begin(), names.end(), s) == names.end()) names.push_back(s);
    }
    if (names.size() > max_names_per_term) names.resize(max_names_per_term);
    for (const auto& n : names) {
      if (!valid_domain(n)) continue;
      auto a = co_await dns_.addresses(n, ip_.is_v6());
      for (const auto& text : a.records) {
        asio::error_code ec;
        auto addr = asio::ip::make_address(text, ec);
        if (!ec && plain(addr) == ip_) {
          out.push_back(n);
          break;
        }
      }
    }
    co_return out;
  }

  // %{p}: a validated name, the domain itself (or a subdomain) preferred (§7.3).
  asio::awaitable<std::string> validated_name(const std::string& domain) {
    auto v = co_await validated_names(false);
    auto* names = std::get_if<std::vector<std::string>>(&v);
    if (!names || names->empty()) co_return "unknown";
    for (const auto& n : *names)
      if (n == domain) co_return n;
    for (const auto& n : *names)
      if (n.ends_with("." + domain)) co_return n;
    co_return names->front();
  }

  // The exp= text (§6.2); "" when anything goes wrong (then there is none).
  asio::awaitable<std::string> explain(const std::string& spec, MacroContext ctx) {
    if (uses_p(spec)) ctx.validated = co_await validated_name(ctx.domain);
    auto name = expand(spec, ctx);
    if (!name || name->empty()) co_return "";
    auto txt = co_await dns_.txt(strip_dot(*name));
    if (txt.status != Status::found || txt.records.size() != 1) co_return "";
    if (uses_p(txt.records.front())) ctx.validated = co_await validated_name(ctx.domain);
    auto text = expand(txt.records.front(), ctx, true);
    if (!text) co_return "";
    for (char c : *text)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) co_return "";
    co_return *text;
  }

  DnsSource& dns_;
  const Query& q_;
  asio::ip::address ip_;
  unsigned terms_ = 0;
  unsigned voids_ = 0;
};

}  // namespace

asio::awaitable<Outcome> check_host(DnsSource& dns, Query query) {
  Outcome out;
  query.domain = strip_dot(query.domain);
  if (query.sender.find('@') == std::string::npos || query.sender.front() == '@')
    query.sender = "postmaster@" + query.domain;
  Evaluator evaluator(dns, query);
  auto r = co_await evaluator.check(query.domain, out, true);
  out.lookups = evaluator.lookups();
  if (auto* a = std::get_if<Abort>(&r)) {
    out.result = a->result;
    out.problem = a->problem;
  } else {
    out.result = std::get<Result>(r);
  }
  if (out.result != Result::fail) out.explanation.clear();
  co_return out;
}

}  // namespace postern::inbound::spf
