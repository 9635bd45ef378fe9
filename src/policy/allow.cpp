#include "policy/allow.hpp"

#include <stdexcept>

#include "util/strings.hpp"

namespace postern::policy {
namespace {

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.' || d.front() == '-') return false;
  std::size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return true;
}

// RFC 3696 §2: a top-level label is never all digits. "192.0.2.24" (or
// ".92.0.2.24") is an address, not a name; as a domain entry it would
// re-read as a network and what is stored would differ from what is shown.
bool numeric_tld(std::string_view d) {
  auto last = d.substr(d.rfind('.') == std::string_view::npos ? 0 : d.rfind('.') + 1);
  return !last.empty() && last.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

bool domain_within(std::string_view name, std::string_view domain) {
  if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
  if (name.size() < domain.size()) return false;
  auto tail = name.substr(name.size() - domain.size());
  if (!util::iequals(tail, domain)) return false;
  return name.size() == domain.size() || name[name.size() - domain.size() - 1] == '.';
}

AllowEntry AllowEntry::parse(std::string_view raw) {
  auto text = util::trim(raw);
  AllowEntry e;
  if (text.empty()) throw std::invalid_argument("empty allow entry");
  if (util::istarts_with(text, "rcpt:")) {
    auto v = text.substr(5);
    auto at = v.rfind('@');
    if (at == std::string_view::npos) {
      if (!v.empty() && v.front() == '.') v.remove_prefix(1);
      if (!valid_domain(v)) throw std::invalid_argument("not a recipient address or domain: " + util::printable(text));
      e.kind = Kind::rcpt_domain;
      e.value = util::to_lower(v);
    } else {
      if (at == 0 || !valid_domain(v.substr(at + 1)))
        throw std::invalid_argument("not a recipient address or domain: " + util::printable(text));
      e.kind = Kind::rcpt_address;
      e.value = std::string(v.substr(0, at)) + "@" + util::to_lower(v.substr(at + 1));
    }
    e.text = "rcpt:" + e.value;
    return e;
  }
  if (auto cidr = Cidr::parse(text)) {
    e.kind = Kind::network;
    e.cidr = *cidr;
    e.text = cidr->str();
    return e;
  }
  if (text.find_first_of(":/") != std::string_view::npos)
    throw std::invalid_argument("not a CIDR block: " + util::printable(text));
  auto d = text;
  if (d.front() == '.') d.remove_prefix(1);
  if (!valid_domain(d)) throw std::invalid_argument("not a CIDR block, domain or rcpt: entry: " + util::printable(text));
  if (numeric_tld(d)) throw std::invalid_argument("not a CIDR block or a domain name (numeric top-level label): " + util::printable(text));
  e.kind = Kind::client_domain;
  e.value = util::to_lower(d);
  e.text = e.value;
  return e;
}

void AllowList::add(std::string_view entry) {
  auto e = AllowEntry::parse(entry);
  for (auto& have : entries_)
    if (have.text == e.text) return;
  if (e.kind == AllowEntry::Kind::client_domain) needs_rdns_ = true;
  entries_.push_back(std::move(e));
}

std::optional<std::string> AllowList::match(const Address& client, std::string_view recipient,
                                             const std::function<std::optional<std::string>()>& rdns) const {
  auto at = recipient.rfind('@');
  std::string_view rcpt_domain = at == std::string_view::npos ? std::string_view() : recipient.substr(at + 1);
  for (auto& e : entries_) {
    switch (e.kind) {
      case AllowEntry::Kind::network:
        if (e.cidr.contains(client)) return e.text;
        break;
      case AllowEntry::Kind::rcpt_address:
        if (at != std::string_view::npos && recipient.substr(0, at) == std::string_view(e.value).substr(0, e.value.rfind('@')) &&
            util::iequals(rcpt_domain, std::string_view(e.value).substr(e.value.rfind('@') + 1)))
          return e.text;
        break;
      case AllowEntry::Kind::rcpt_domain:
        if (!rcpt_domain.empty() && domain_within(rcpt_domain, e.value)) return e.text;
        break;
      case AllowEntry::Kind::client_domain:
        break;
    }
  }
  if (!needs_rdns_) return std::nullopt;
  auto name = rdns();
  if (!name) return std::nullopt;
  for (auto& e : entries_)
    if (e.kind == AllowEntry::Kind::client_domain && domain_within(*name, e.value)) return e.text;
  return std::nullopt;
}

}  // namespace postern::policy
