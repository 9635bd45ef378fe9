#include "inbound/spf_record.hpp"

#include <algorithm>
#include <cctype>

#include "util/strings.hpp"

namespace postern::inbound::spf {
namespace {

bool alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool alnum(char c) { return alpha(c) || digit(c); }
bool delimiter(char c) { return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '='; }

// macro-string syntax (§7.1); `explanation` also allows c, r, t and spaces.
bool valid_macro_string(std::string_view s, bool explanation) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 1 >= s.size()) return false;
      const char n = s[i + 1];
      if (n == '%' || n == '_' || n == '-') {
        ++i;
        continue;
      }
      if (n != '{' || i + 2 >= s.size()) return false;
      std::size_t j = i + 2;
      const char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(s[j])));
      const std::string_view letters = explanation ? "slodiphcrtv" : "slodiphv";
      if (letters.find(letter) == std::string_view::npos) return false;
      ++j;
      while (j < s.size() && digit(s[j])) ++j;
      if (j < s.size() && (s[j] == 'r' || s[j] == 'R')) ++j;
      while (j < s.size() && delimiter(s[j])) ++j;
      if (j >= s.size() || s[j] != '}') return false;
      i = j;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u == ' ' && explanation) continue;
    if (u < 0x21 || u > 0x7e) return false;
  }
  return true;
}

// toplabel (§7.1): alphanumerics with at least one letter, or with inner hyphens.
bool toplabel(std::string_view l) {
  if (l.empty()) return false;
  bool has_alpha = false;
  for (char c : l) {
    if (!alnum(c) && c != '-') return false;
    has_alpha = has_alpha || alpha(c);
  }
  if (l.find('-') != std::string_view::npos) return alnum(l.front()) && alnum(l.back());
  return has_alpha;
}

// domain-spec = macro-string domain-end; domain-end = "." toplabel ["."] / macro-expand.
bool valid_domain_spec(std::string_view s) {
  if (s.empty() || !valid_macro_string(s, false)) return false;
  if (s.back() == '}') {
    // Ends in a macro-expand unless the '}' is a literal (no "%{" open before it).
    const auto open = s.rfind("%{");
    if (open != std::string_view::npos && s.find('}', open) == s.size() - 1) return true;
  }
  std::string_view t = s;
  if (t.size() > 1 && t.back() == '.') t.remove_suffix(1);
  const auto dot = t.rfind('.');
  if (dot == std::string_view::npos) return false;
  return toplabel(t.substr(dot + 1));
}

std::optional<unsigned> cidr(std::string_view digits, unsigned max) {
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
  unsigned v = 0;
  for (char c : digits) {
    if (!digit(c)) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// Takes the CIDR lengths off the end of "spec/24//64" (a domain-spec may
// itself hold '/', so they are read from the right).
bool dual_cidr(std::string_view& rest, Mechanism& m, bool allow4, bool allow6) {
  auto take = [&](std::string_view& r) -> std::optional<std::string_view> {
    const auto slash = r.rfind('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const auto digits = r.substr(slash + 1);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), digit)) return std::nullopt;
    r = r.substr(0, slash);
    return digits;
  };
  std::string_view r = rest;
  auto last = take(r);
  if (!last) return rest.empty() || rest.back() != '/';
  if (allow4 && allow6 && r.ends_with("/")) {  // "//m"
    r.remove_suffix(1);
    auto v = cidr(*last, 128);
    if (!v) return false;
    m.cidr6 = *v;
    std::string_view r2 = r;
    if (auto four = take(r2)) {
      auto v4 = cidr(*four, 32);
      if (!v4) return false;
      m.cidr4 = *v4;
      r = r2;
    }
    rest = r;
    return true;
  }
  auto v = cidr(*last, allow4 ? 32 : 128);
  if (!v) return false;
  (allow4 ? m.cidr4 : m.cidr6) = *v;
  rest = r;
  return true;
}

bool strict_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    while (i < s.size() && digit(s[i])) ++i;
    const auto n = i - start;
    if (n == 0 || n > 3 || (n > 1 && s[start] == '0')) return false;
    if (std::stoi(std::string(s.substr(start, n))) > 255) return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.') return false;
    ++i;
  }
  return parts == 4;
}

std::string url_escape(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (alnum(static_cast<char>(c)) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string ip_text(const asio::ip::address& ip, bool dotted_nibbles) {
  if (ip.is_v4()) return ip.to_string();
  if (!dotted_nibbles) return ip.to_string();
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto b : ip.to_v6().to_bytes()) {
    if (!out.empty()) out += '.';
    out += hex[b >> 4];
    out += '.';
    out += hex[b & 15];
  }
  return out;
}

}  // namespace

bool is_spf_record(std::string_view text) {
  if (text.size() < 6 || !util::iequals(text.substr(0, 6), "v=spf1")) return false;
  return text.size() == 6 || text[6] == ' ';
}

std::variant<Record, std::string> parse_record(std::string_view text) {
  if (!is_spf_record(text)) return std::string("not an SPF record");
  Record record;
  std::string_view rest = text.substr(6);
  while (!rest.empty()) {
    if (rest.front() == ' ') {
      rest.remove_prefix(1);
      continue;
    }
    auto end = rest.find(' ');
    std::string_view term = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);

    // A modifier: name "=" macro-string.
    std::size_t n = 0;
    if (!term.empty() && alpha(term[0])) {
      n = 1;
      while (n < term.size() && (alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.')) ++n;
    }
    if (n > 0 && n < term.size() && term[n] == '=') {
      const std::string name = util::to_lower(term.substr(0, n));
      const std::string_view value = term.substr(n + 1);
      if (name == "redirect" || name == "exp") {
        auto& slot = name == "redirect" ? record.redirect : record.exp;
        if (slot) return "more than one " + name + "= modifier";
        if (!valid_domain_spec(value)) return name + "=: malformed domain-spec \"" + std::string(value) + "\"";
        slot = std::string(value);
      } else if (!valid_macro_string(value, false)) {
        return "malformed modifier \"" + std::string(term) + "\"";
      }
      continue;
    }

    Mechanism m;
    if (term.front() == '+' || term.front() == '-' || term.front() == '~' || term.front() == '?') {
      m.qualifier = static_cast<Qualifier>(term.front());
      term.remove_prefix(1);
    }
    std::size_t k = 0;
    while (k < term.size() && (k == 0 ? alpha(term[k]) : alnum(term[k]))) ++k;
    const std::string name = util::to_lower(term.substr(0, k));
    std::string_view arg = term.substr(k);
    const std::string bad = "malformed mechanism \"" + std::string(term) + "\"";
    if (name == "all") {
      if (!arg.empty()) return bad;
      m.kind = Mechanism::Kind::all;
    } else if (name == "include" || name == "exists") {
      m.kind = name == "include" ? Mechanism::Kind::include : Mechanism::Kind::exists;
      if (!arg.starts_with(":") || !valid_domain_spec(arg.substr(1))) return bad;
      m.domain_spec = std::string(arg.substr(1));
    } else if (name == "a" || name == "mx" || name == "ptr") {
      m.kind = name == "a" ? Mechanism::Kind::a : name == "mx" ? Mechanism::Kind::mx : Mechanism::Kind::ptr;
      if (m.kind != Mechanism::Kind::ptr && !dual_cidr(arg, m, true, true)) return bad;
      if (!arg.empty()) {
        if (!arg.starts_with(":") || !valid_domain_spec(arg.substr(1))) return bad;
        m.domain_spec = std::string(arg.substr(1));
      }
    } else if (name == "ip4" || name == "ip6") {
      const bool v4 = name == "ip4";
      m.kind = v4 ? Mechanism::Kind::ip4 : Mechanism::Kind::ip6;
      if (!arg.starts_with(":")) return bad;
      arg.remove_prefix(1);
      if (!dual_cidr(arg, m, v4, !v4)) return bad;
      asio::error_code ec;
      if (v4) {
        if (!strict_ipv4(arg)) return bad;
        m.network = asio::ip::make_address_v4(std::string(arg), ec);
      } else {
        m.network = asio::ip::make_address_v6(std::string(arg), ec);
      }
      if (ec) return bad;
    } else {
      return "unknown mechanism \"" + std::string(term) + "\"";
    }
    record.mechanisms.push_back(std::move(m));
  }
  return record;
}

bool uses_p(std::string_view s) {
  for (std::size_t i = 0; i + 2 < s.size(); ++i)
    if (s[i] == '%' && s[i + 1] == '{' && (s[i + 2] == 'p' || s[i + 2] == 'P')) return true;
  return false;
}

std::optional<std::string> expand(std::string_view s, const MacroContext& ctx, bool explanation) {
  if (!valid_macro_string(s, explanation)) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const char n = s[i + 1];
    if (n == '%' || n == '_' || n == '-') {
      out += n == '%' ? "%" : n == '_' ? " " : "%20";
      ++i;
      continue;
    }
    std::size_t j = i + 2;
    const char raw_letter = s[j++];
    const char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(raw_letter)));
    std::size_t keep = 0;
    bool any_digits = false;
    while (digit(s[j])) {
      any_digits = true;
      keep = keep * 10 + static_cast<std::size_t>(s[j] - '0');
      if (keep > 1000) keep = 1000;
      ++j;
    }
    if (any_digits && keep == 0) return std::nullopt;  // §7.1: zero parts is a syntax error
    bool reverse = false;
    if (s[j] == 'r' || s[j] == 'R') {
      reverse = true;
      ++j;
    }
    std::string delimiters;
    while (s[j] != '}') delimiters += s[j++];
    if (delimiters.empty()) delimiters = ".";
    i = j;

    std::string value;
    const auto at = ctx.sender.rfind('@');
    switch (letter) {
      case 's': value = ctx.sender; break;
      case 'l': value = at == std::string::npos ? "postmaster" : ctx.sender.substr(0, at); break;
      case 'o': value = at == std::string::npos ? ctx.sender : ctx.sender.substr(at + 1); break;
      case 'd': value = ctx.domain; break;
      case 'i': value = ip_text(ctx.ip, true); break;
      case 'p': value = ctx.validated.empty() ? "unknown" : ctx.validated; break;
      case 'v': value = ctx.ip.is_v4() ? "in-addr" : "ip6"; break;
      case 'h': value = ctx.helo; break;
      case 'c': value = ip_text(ctx.ip, false); break;
      case 'r': value = ctx.receiver.empty() ? "unknown" : ctx.receiver; break;
      case 't': value = std::to_string(ctx.timestamp); break;
    }
    if (any_digits || reverse || delimiters != ".") {
      std::vector<std::string> parts(1);
      for (char c : value) {
        if (delimiters.find(c) != std::string::npos) parts.emplace_back();
        else parts.back() += c;
      }
      if (reverse) std::reverse(parts.begin(), parts.end());
      if (any_digits && keep < parts.size()) parts.erase(parts.begin(), parts.end() - static_cast<std::ptrdiff_t>(keep));
      value.clear();
      for (std::size_t p = 0; p < parts.size(); ++p) {
        if (p) value += '.';
        value += parts[p];
      }
    }
    out += std::isupper(static_cast<unsigned char>(raw_letter)) ? url_escape(value) : value;
  }
  if (!explanation) {
    while (out.size() > 253) {
      const auto dot = out.find('.');
      if (dot == std::string::npos) break;
      out.erase(0, dot + 1);
    }
  }
  return out;
}

bool valid_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > 253) return false;
  std::size_t labels = 0;
  std::size_t start = 0;
  while (true) {
    const auto dot = domain.find('.', start);
    const auto len = (dot == std::string_view::npos ? domain.size() : dot) - start;
    if (len == 0 || len > 63) return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

}  // namespace postern::inbound::spf
