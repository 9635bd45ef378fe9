#include "pop3/reply.hpp"

#include "util/strings.hpp"

namespace postern::pop3 {
namespace {

constexpr std::size_t max_text_octets = 400;

}  // namespace

std::string Reply::summary() const {
  if (status == Status::challenge) return "+ " + util::printable_ascii(text, 12000);
  std::string line = status == Status::ok ? "+OK" : "-ERR";
  if (!code.empty()) line += " [" + util::printable_ascii(code, 40) + "]";
  if (!text.empty()) line += " " + util::printable(text, max_text_octets);
  return line;
}

std::string Reply::wire() const {
  std::string out = summary() + "\r\n";
  if (body) out += *body;
  return out;
}

Reply from_smtp(const smtp::Reply& r) {
  const std::string text = r.text();
  if (r.positive()) return Reply::ok(text);
  if (r.temporary()) return Reply::err(text, "SYS/TEMP");
  if (r.code == 535 || r.code == 534 || r.code == 538 || r.code == 421) return Reply::err(text, "AUTH");
  return Reply::err(text);
}

std::string multiline(std::string_view message, std::optional<std::size_t> body_lines) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool in_header = true;
  std::size_t body_seen = 0;
  std::size_t at = 0;
  while (at < message.size()) {
    auto end = message.find('\n', at);
    std::string_view line = message.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    at = end == std::string_view::npos ? message.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (body_lines && !in_header) {
      if (body_seen == *body_lines) break;
      ++body_seen;
    }
    if (line.empty()) in_header = false;
    if (!line.empty() && line.front() == '.') out += '.';  // RFC 1939 §3: byte-stuffing
    out.append(line);
    out += "\r\n";
  }
  out += ".\r\n";
  return out;
}

std::string multiline_lines(const std::string& lines_crlf) { return lines_crlf + ".\r\n"; }

std::uint64_t octets(std::string_view message) {
  std::uint64_t n = 0;
  std::size_t at = 0;
  while (at < message.size()) {
    auto end = message.find('\n', at);
    std::string_view line = message.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    at = end == std::string_view::npos ? message.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    n += line.size() + 2;
  }
  return n;
}

}  // namespace postern::pop3
