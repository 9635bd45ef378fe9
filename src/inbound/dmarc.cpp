#include "inbound/dmarc.hpp"

#include <libpsl.h>

#include "dkim/verifier.hpp"
#include "util/strings.hpp"

namespace postern::inbound::dmarc {
namespace {

std::optional<Policy> policy(std::string_view v) {
  const std::string p = util::to_lower(v);
  if (p == "none") return Policy::none;
  if (p == "quarantine") return Policy::quarantine;
  if (p == "reject") return Policy::reject;
  return std::nullopt;
}

const psl_ctx_t* suffixes() {
  // The newest of the system list (Debian's publicsuffix) and libpsl's own.
  static const psl_ctx_t* ctx = [] {
    const psl_ctx_t* c = psl_latest(nullptr);
    return c ? c : psl_builtin();
  }();
  return ctx;
}

}  // namespace

std::string_view to_string(Policy p) {
  switch (p) {
    case Policy::none: return "none";
    case Policy::quarantine: return "quarantine";
    case Policy::reject: return "reject";
  }
  return "none";
}

bool is_dmarc_record(std::string_view text) {
  auto t = util::trim(text);
  if (t.size() < 8 || !util::iequals(t.substr(0, 2), "v=")) return false;
  auto semi = t.find(';');
  return util::iequals(util::trim(t.substr(2, semi == std::string_view::npos ? std::string_view::npos : semi - 2)),
                       "DMARC1");
}

std::variant<Record, std::string> parse_record(std::string_view text) {
  if (!is_dmarc_record(text)) return std::string("not a DMARC record");
  auto tags = dkim::parse_tag_list(text);
  if (!tags) return std::string("malformed tag list");
  Record r;
  auto p = tags->find("p");
  if (p == tags->end()) return std::string("no p=");
  auto pol = policy(p->second);
  if (!pol) return std::string("unknown p=");
  r.p = *pol;
  if (auto sp = tags->find("sp"); sp != tags->end()) {
    r.sp = policy(sp->second);
    if (!r.sp) return std::string("unknown sp=");
  }
  for (auto [tag, strict] : {std::pair{"adkim", &r.strict_dkim}, std::pair{"aspf", &r.strict_spf}}) {
    auto it = tags->find(tag);
    if (it == tags->end()) continue;
    const std::string v = util::to_lower(it->second);
    if (v != "r" && v != "s") return std::string("malformed ") + tag + "=";
    *strict = v == "s";
  }
  if (auto pct = tags->find("pct"); pct != tags->end()) {
    const std::string& v = pct->second;
    if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) > 100)
      return std::string("malformed pct=");
    r.pct = static_cast<unsigned>(std::stoi(v));
  }
  return r;
}

std::string organizational_domain(std::string_view domain) {
  std::string d = util::to_lower(domain);
  while (!d.empty() && d.back() == '.') d.pop_back();
  if (d.empty()) return d;
  const char* reg = psl_registrable_domain(suffixes(), d.c_str());
  return reg ? std::string(reg) : d;
}

bool aligned(std::string_view a, std::string_view b, bool strict) {
  std::string x = util::to_lower(a), y = util::to_lower(b);
  while (!x.empty() && x.back() == '.') x.pop_back();
  while (!y.empty() && y.back() == '.') y.pop_back();
  if (x.empty() || y.empty()) return false;
  if (x == y) return true;
  return !strict && organizational_domain(x) == organizational_domain(y);
}

}  // namespace postern::inbound::dmarc
