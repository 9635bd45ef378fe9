#include "smtp/address.hpp"

#include <cctype>

#include "util/strings.hpp"

namespace postern::smtp {
namespace {

constexpr std::size_t max_local_part = 64;  // RFC 5321 §4.5.3.1.1
constexpr std::size_t max_domain = 255;     // §4.5.3.1.2
constexpr std::size_t max_path = 256;       // §4.5.3.1.3, with the brackets

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_let_dig(unsigned char c) { return is_alpha(c) || is_digit(c) || c >= 0x80; }

// RFC 5322 atext, plus UTF8-non-ascii (RFC 6531 §3.3).
bool is_atext(unsigned char c) {
  if (is_alpha(c) || is_digit(c) || c >= 0x80) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

// Checks that the octets >= 0x80 form valid UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t n;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

bool is_ipv4_literal(std::string_view s) {
  auto parts = util::split(s, '.');
  if (parts.size() != 4) return false;
  for (auto& p : parts) {
    if (p.empty() || p.size() > 3) return false;
    for (char c : p)
      if (!is_digit(c)) return false;
    if (std::stoi(p) > 255) return false;
  }
  return true;
}

bool is_ipv6_literal(std::string_view s) {
  // RFC 5321 §4.1.3: "IPv6:" then hex groups, "::" once, optional IPv4 tail.
  if (!util::istarts_with(s, "IPv6:")) return false;
  s.remove_prefix(5);
  if (s.empty() || s.size() > 45) return false;
  std::size_t groups = 0, i = 0;
  bool compressed = false;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
    if (i == s.size()) return true;
  } else if (s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && s[j] != ':') ++j;
    std::string_view g = s.substr(i, j - i);
    if (g.find('.') != std::string_view::npos) {
      if (j != s.size() || !is_ipv4_literal(g)) return false;
      groups += 2;
      i = j;
      break;
    }
    if (g.empty() || g.size() > 4) return false;
    for (char c : g)
      if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    ++groups;
    i = j;
    if (i < s.size()) {
      ++i;  // the ':'
      if (i < s.size() && s[i] == ':') {
        if (compressed) return false;
        compressed = true;
        ++i;
      } else if (i == s.size()) {
        return false;  // trailing single ':'
      }
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

bool is_address_literal(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  std::string_view inner = s.substr(1, s.size() - 2);
  if (is_ipv4_literal(inner) || is_ipv6_literal(inner)) return true;
  // General-address-literal = Standardized-tag ":" 1*dcontent
  auto colon = inner.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == inner.size()) return false;
  std::string_view tag = inner.substr(0, colon);
  if (util::iequals(tag, "IPv6")) return false;
  for (char c : tag)
    if (!is_let_dig(c) && c != '-') return false;
  for (unsigned char c : inner.substr(colon + 1))
    if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\') return false;
  return true;
}

}  // namespace

bool is_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!is_atext(static_cast<unsigned char>(c))) {
      return false;
    }
    prev = c;
  }
  return valid_utf8(s);
}

bool is_domain(std::string_view s) {
  if (s.empty() || s.size() > max_domain) return false;
  for (auto& label : util::split(s, '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (!is_let_dig(label.front()) || !is_let_dig(label.back())) return false;
    for (unsigned char c : label)
      if (!is_let_dig(c) && c != '-') return false;
  }
  return valid_utf8(s);
}

std::string Mailbox::str() const {
  std::string out;
  if (quoted && !is_dot_string(local_part)) {
    out += '"';
    for (char c : local_part) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  } else {
    out += local_part;
  }
  out += '@';
  out += domain;
  return out;
}

bool Mailbox::utf8() const {
  for (unsigned char c : local_part + domain)
    if (c >= 0x80) return true;
  return false;
}

std::string Path::str() const {
  if (null) return {};
  if (postmaster) return "postmaster";
  return mailbox.str();
}

PathParse parse_path(std::string_view text) {
  PathParse r;
  auto fail = [&r](std::string why) {
    r.path.reset();
    r.error = std::move(why);
    return r;
  };
  if (text.empty() || text[0] != '<') return fail("Path must be enclosed in <>");

  // Find the closing '>' outside any quoted string.
  std::size_t end = std::string_view::npos;
  bool in_quotes = false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '\\') ++i;
      else if (c == '"') in_quotes = false;
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == '>') {
      end = i;
      break;
    }
  }
  if (end == std::string_view::npos) return fail("Missing closing >");
  if (end + 1 > max_path) return fail("Path too long");
  std::string_view inner = text.substr(1, end - 1);
  r.consumed = end + 1;

  Path p;
  if (inner.empty()) {
    p.null = true;
    r.path = p;
    return r;
  }
  if (util::iequals(inner, "postmaster")) {
    p.postmaster = true;
    r.path = p;
    return r;
  }

  // A-d-l ":" (source route), kept so policy can refuse it.
  if (inner.front() == '@') {
    auto colon = inner.find(':');
    if (colon == std::string_view::npos) return fail("Malformed source route");
    for (auto& hop : util::split(inner.substr(0, colon), ',')) {
      if (hop.size() < 2 || hop[0] != '@' || !is_domain(std::string_view(hop).substr(1)))
        return fail("Malformed source route");
      p.source_route.push_back(hop.substr(1));
    }
    inner.remove_prefix(colon + 1);
  }

  // Local-part: Quoted-string or Dot-string.
  Mailbox& m = p.mailbox;
  std::size_t i = 0;
  if (!inner.empty() && inner[0] == '"') {
    m.quoted = true;
    for (i = 1;; ++i) {
      if (i >= inner.size()) return fail("Unterminated quoted local part");
      unsigned char c = inner[i];
      if (c == '"') break;
      if (c == '\\') {
        // quoted-pairSMTP = %d92 %d32-126
        if (i + 1 >= inner.size()) return fail("Unterminated quoted local part");
        unsigned char q = inner[++i];
        if (q < 32 || q > 126) return fail("Invalid quoted-pair in local part");
        m.local_part += static_cast<char>(q);
      } else if ((c >= 32 && c <= 126) || c >= 0x80) {
        m.local_part += static_cast<char>(c);
      } else {
        return fail("Invalid character in local part");
      }
    }
    ++i;  // closing quote
    if (!valid_utf8(m.local_part)) return fail("Invalid UTF-8 in local part");
  } else {
    auto at = inner.rfind('@');
    if (at == std::string_view::npos) return fail("Address must include a domain");
    m.local_part = std::string(inner.substr(0, at));
    if (!is_dot_string(m.local_part)) return fail("Invalid local part");
    i = at;
  }
  if (m.local_part.size() > max_local_part) return fail("Local part too long");
  if (i >= inner.size() || inner[i] != '@') return fail("Address must include a domain");
  std::string_view domain = inner.substr(i + 1);
  if (!domain.empty() && domain.front() == '[') {
    if (!is_address_literal(domain)) return fail("Invalid address literal");
    m.address_literal = true;
  } else if (!is_domain(domain)) {
    return fail("Invalid domain");
  }
  m.domain = std::string(domain);
  r.path = std::move(p);
  return r;
}

std::optional<std::string> decode_xtext(std::string_view x) {
  // xtext = *( xchar / hexchar ); xchar = "!".."~" except "+" and "="
  std::string out;
  for (std::size_t i = 0; i < x.size(); ++i) {
    unsigned char c = x[i];
    if (c == '+') {
      if (i + 2 >= x.size()) return std::nullopt;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;  // RFC 3461: upper-case hex only
      };
      int hi = hex(x[i + 1]), lo = hex(x[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c >= 33 && c <= 126 && c != '=') {
      out += static_cast<char>(c);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace postern::smtp
