#include "client/message.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <cstring>

#include "util/ids.hpp"

namespace postern::client {

std::string dot_stuff(std::string_view m) {
  std::string out;
  out.reserve(m.size() + m.size() / 50 + 8);
  // A line at a time: its text copied whole, its end (CRLF, LF or CR) made CRLF.
  std::size_t i = 0;
  while (i < m.size()) {
    if (m[i] == '.') out += '.';  // RFC 5321 §4.5.2: double a leading period
    const std::size_t end = m.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      out.append(m.substr(i));
      out += "\r\n";
      break;
    }
    out.append(m.substr(i, end - i));
    out += "\r\n";
    i = end + (m[end] == '\r' && end + 1 < m.size() && m[end + 1] == '\n' ? 2 : 1);
  }
  out += ".\r\n";
  return out;
}

bool has_8bit(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if ((c & 0xf0) == 0xe0) n = 2;
    else if (c >= 0xf0 && c <= 0xf4) n = 3;
    else return false;
    if (s.size() - i - 1 < n) return false;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

std::string_view strip_brackets(std::string_view a) {
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') return a.substr(1, a.size() - 2);
  return a;
}

namespace {

bool atext(unsigned char c) {
  if (c >= 0x80) return true;  // RFC 6531 UTF8-non-ascii
  if (std::isalnum(c)) return true;
  return std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr && c != 0;
}

std::optional<std::string> local_part_error(std::string_view l) {
  if (l.empty()) return "the local part (before @) is empty";
  if (l.size() > 64) return "the local part is longer than 64 octets";
  if (l.front() == '"') {
    if (l.size() < 2 || l.back() != '"') return "the quoted local part is not closed";
    for (std::size_t i = 1; i + 1 < l.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(l[i]);
      if (c == '\\') {
        if (++i + 1 >= l.size()) return "the quoted local part ends in a backslash";
        continue;
      }
      if (c < 32 || c == 127 || c == '"') return "the quoted local part has a character that must be escaped";
    }
    return std::nullopt;
  }
  if (l.front() == '.' || l.back() == '.' || l.find("..") != std::string_view::npos)
    return "the local part has a leading, trailing or double dot";
  for (unsigned char c : l)
    if (c != '.' && !atext(c)) return "the local part has a character that is not allowed unquoted";
  return std::nullopt;
}

std::optional<std::string> domain_error(std::string_view d) {
  if (d.empty()) return "the domain (after @) is empty";
  if (d.size() > 255) return "the domain is longer than 255 octets";
  if (d.front() == '[') {
    if (d.back() != ']' || d.size() < 3) return "the address literal is not closed with ]";
    for (unsigned char c : d.substr(1, d.size() - 2))
      if (!(std::isalnum(c) || c == '.' || c == ':' || c == '-')) return "the address literal has an unexpected character";
    return std::nullopt;
  }
  std::size_t start = 0;
  while (true) {
    std::size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return "the domain has an empty label";
    if (label.size() > 63) return "a domain label is longer than 63 octets";
    if (label.front() == '-' || label.back() == '-') return "a domain label starts or ends with '-'";
    for (unsigned char c : label)
      if (!(std::isalnum(c) || c == '-' || c >= 0x80)) return "the domain has a character that is not allowed";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> address_error(std::string_view a) {
  if (a.empty()) return "the address is empty";
  if (a.size() > 254) return "the address is longer than 254 octets";
  for (unsigned char c : a)
    if (c < 32 || c == 127) return "the address contains a control character";
  if (has_8bit(a) && !valid_utf8(a)) return "the address is not valid UTF-8";
  auto at = a.rfind('@');
  if (at == std::string_view::npos) return "the address has no @domain";
  if (a.front() != '"' && a.substr(0, at).find('@') != std::string_view::npos) return "the address has more than one @";
  if (auto e = local_part_error(a.substr(0, at))) return e;
  return domain_error(a.substr(at + 1));
}

namespace {

// Splits text into lines (CRLF, LF or CR) and calls f(line, number) until it returns an error.
template <class F>
std::optional<std::string> for_each_line(std::string_view m, F f) {
  std::size_t start = 0, number = 1;
  while (start < m.size()) {
    std::size_t end = m.find_first_of("\r\n", start);
    std::string_view line = m.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (auto e = f(line, number)) return e;
    if (end == std::string_view::npos) break;
    start = end + 1;
    if (m[end] == '\r' && start < m.size() && m[start] == '\n') ++start;
    ++number;
  }
  return std::nullopt;
}

std::optional<std::string> common_error(std::string_view m) {
  if (m.find('\0') != std::string_view::npos) return "it contains a NUL byte";
  return for_each_line(m, [](std::string_view line, std::size_t n) -> std::optional<std::string> {
    // RFC 5322 §2.1.1 / RFC 5321 §4.5.3.1.6: 998 octets plus CRLF.
    if (line.size() > 998) return "line " + std::to_string(n) + " is longer than 998 octets";
    return std::nullopt;
  });
}

}  // namespace

std::optional<std::string> body_error(std::string_view body) { return common_error(body); }

std::optional<std::string> message_error(std::string_view m) {
  if (m.empty()) return "it is empty";
  if (auto e = common_error(m)) return e;
  bool in_header = true, seen_field = false;
  return for_each_line(m, [&](std::string_view line, std::size_t n) -> std::optional<std::string> {
    if (!in_header) return std::nullopt;
    if (line.empty()) {
      if (!seen_field) return std::string("it has no header section (line 1 is empty)");
      in_header = false;
      return std::nullopt;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (!seen_field) return std::string("line 1 is a continuation line, not a header field");
      return std::nullopt;
    }
    // RFC 5322 §2.2: field-name = 1*ftext (printable ASCII except ":"), then ":".
    std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos)
      return "line " + std::to_string(n) + " is not a header field (\"Name: value\") and no blank line ends the header section before it";
    for (unsigned char c : line.substr(0, colon))
      if (c < 33 || c > 126) return "line " + std::to_string(n) + " has a header field name with a space or non-ASCII character";
    seen_field = true;
    return std::nullopt;
  });
}

namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(n);
  return out;
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 32 || c > 126) return false;
  return true;
}

}  // namespace

std::string encode_header_text(std::string_view text) {
  // Plain text that holds "=?" could read as an encoded word (RFC 2047 §5): encode it too.
  if (printable_ascii(text) && text.find("=?") == std::string_view::npos) return std::string(text);
  // "=?UTF-8?B?" + base64 + "?=" <= 75 octets: 45 octets of input per word.
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t n = std::min<std::size_t>(45, text.size() - i);
    // Never split a UTF-8 sequence: back off while the next octet is a continuation byte.
    while (n > 1 && i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xc0) == 0x80) --n;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(text.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

std::string rfc5322_date(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return std::string(buf, n);
}

std::string compose(const Composition& c) {
  std::string h;
  h += "From: " + c.from + "\r\n";
  h += "To: ";
  for (std::size_t i = 0; i < c.to.size(); ++i) {
    if (i) h += ",\r\n ";
    h += c.to[i];
  }
  h += "\r\n";
  if (!c.subject.empty()) h += "Subject: " + encode_header_text(c.subject) + "\r\n";
  h += "Date: " + rfc5322_date(c.date ? c.date : std::time(nullptr)) + "\r\n";
  std::string id = c.message_id;
  if (id.empty()) {
    auto at = c.from.rfind('@');
    std::string domain = at == std::string::npos ? "localhost" : c.from.substr(at + 1);
    id = "<" + util::random_hex(12) + "@" + domain + ">";
  }
  h += "Message-ID: " + id + "\r\n";
  h += "MIME-Version: 1.0\r\n";
  h += "Content-Type: text/plain; charset=UTF-8\r\n";
  h += std::string("Content-Transfer-Encoding: ") + (has_8bit(c.body) ? "8bit" : "7bit") + "\r\n";
  h += "\r\n";
  h += c.body;
  return h;
}

}  // namespace postern::client
