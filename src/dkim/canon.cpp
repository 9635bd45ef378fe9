#include "dkim/canon.hpp"

#include <cctype>

namespace postern::dkim {

namespace {

bool wsp(char c) { return c == ' ' || c == '\t'; }

// The next line of `s` from `pos` (without its CRLF or LF); moves pos past it.
std::string_view next_line(std::string_view s, std::size_t& pos, bool& had_end) {
  const auto nl = s.find('\n', pos);
  had_end = nl != std::string_view::npos;
  std::string_view line = s.substr(pos, (had_end ? nl : s.size()) - pos);
  pos = had_end ? nl + 1 : s.size();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// White space runs as one space, none at the end.
void compress_into(std::string& out, std::string_view text) {
  bool pending = false;
  for (char c : text) {
    if (wsp(c)) {
      pending = true;
      continue;
    }
    if (pending) out += ' ';
    pending = false;
    out += c;
  }
}

}  // namespace

SplitMessage split(std::string_view message) {
  SplitMessage m;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const std::size_t start = pos;
    bool had_end = false;
    std::string_view line = next_line(message, pos, had_end);
    if (line.empty()) {
      m.body = message.substr(pos);
      return m;
    }
    if (wsp(line.front()) && !m.fields.empty()) {
      m.fields.back().raw.append(line).append("\r\n");
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      // Not a field: RFC 5322 has none such in a header; treat the rest as body.
      m.body = message.substr(start);
      return m;
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && wsp(name.back())) name.remove_suffix(1);
    m.fields.push_back({std::string(name), std::string(line) + "\r\n"});
  }
  return m;
}

std::string relaxed_header(std::string_view raw) {
  std::string unfolded;
  unfolded.reserve(raw.size());
  for (char c : raw)
    if (c != '\r' && c != '\n') unfolded += c;
  const auto colon = unfolded.find(':');
  std::string_view name = std::string_view(unfolded).substr(0, colon);
  std::string_view value = colon == std::string::npos ? std::string_view{} : std::string_view(unfolded).substr(colon + 1);
  while (!name.empty() && wsp(name.back())) name.remove_suffix(1);
  while (!value.empty() && wsp(value.front())) value.remove_prefix(1);
  std::string out;
  for (char c : name) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out += ':';
  compress_into(out, value);
  out += "\r\n";
  return out;
}

std::string relaxed_body(std::string_view body) {
  std::string out;
  std::size_t kept = 0;  // out's size up to the last non-empty line
  std::size_t pos = 0;
  while (pos < body.size()) {
    bool had_end = false;
    const std::string_view line = next_line(body, pos, had_end);
    const std::size_t before = out.size();
    compress_into(out, line);
    const bool empty = out.size() == before;  // white space only counts as empty
    out += "\r\n";
    if (!empty) kept = out.size();
  }
  out.resize(kept);
  return out;
}

}  // namespace postern::dkim
