#include "mime/header_section.hpp"

#include "util/strings.hpp"

namespace postern::mime {
namespace {

std::string_view without_line_end(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool continuation(std::string_view line) { return !line.empty() && (line[0] == ' ' || line[0] == '\t'); }

// Calls `f(line, header)` for each line of the header section, where
// `header` says whether it is a field (or the fold of one); stops after
// the first line that is neither and returns its offset (the body's
// start, or the empty line's), or the message's size.
template <typename F>
std::size_t each_header_line(std::string_view message, F f) {
  bool in_field = false;
  for (std::size_t pos = 0; pos < message.size();) {
    const auto nl = message.find('\n', pos);
    const auto end = nl == std::string_view::npos ? message.size() : nl + 1;
    const auto line = message.substr(pos, end - pos);
    const bool header = (in_field && continuation(line)) || field_name(line).has_value();
    if (!header) return pos;
    in_field = true;
    f(line);
    pos = end;
  }
  return message.size();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> header_fields(std::string_view message) {
  std::vector<std::pair<std::string, std::string>> out;
  each_header_line(message, [&](std::string_view line) {
    line = without_line_end(line);
    if (continuation(line) && !out.empty()) {
      // As most readers (Go's net/textproto among them): one space where the fold was.
      out.back().second = std::string(util::trim(out.back().second)) + " " + std::string(util::trim(line));
      return;
    }
    const auto name = field_name(line);
    if (!name) return;
    auto value = line.substr(line.find(':') + 1);
    out.emplace_back(std::string(*name), std::string(value));
  });
  for (auto& [name, value] : out) value = std::string(util::trim(value));
  return out;
}

std::optional<std::string_view> field_name(std::string_view line) {
  line = without_line_end(line);
  std::size_t i = 0;
  // RFC 5322 §3.6.8: ftext is printable ASCII but the colon.
  while (i < line.size() && line[i] > ' ' && line[i] < 0x7f && line[i] != ':') ++i;
  if (i == 0) return std::nullopt;
  const auto name = line.substr(0, i);
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;  // §4.5: obs-optional WSP
  if (i == line.size() || line[i] != ':') return std::nullopt;
  return name;
}

bool has_field(std::string_view message, std::string_view name) {
  bool found = false;
  each_header_line(message, [&](std::string_view line) {
    if (auto n = field_name(line); n && util::iequals(*n, name)) found = true;
  });
  return found;
}

std::string with_body_separator(std::string message) {
  const auto body = each_header_line(message, [](std::string_view) {});
  const auto first = std::string_view(message).substr(body);
  const bool separated = body == message.size() || without_line_end(first.substr(0, first.find('\n'))).empty();
  if (!separated) message.insert(body, "\r\n");
  return message;
}

}  // namespace postern::mime
