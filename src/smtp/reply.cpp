#include "smtp/reply.hpp"

#include <cctype>

namespace postern::smtp {

Reply::Reply(int c, std::string e, std::string text) : code(c), enhanced(std::move(e)), lines{std::move(text)} {}

Reply::Reply(int c, std::string e, std::vector<std::string> l) : code(c), enhanced(std::move(e)), lines(std::move(l)) {
  if (lines.empty()) lines.emplace_back();
}

std::string Reply::text() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += ' ';
    out += lines[i];
  }
  return out;
}

std::string Reply::wire() const {
  std::string out;
  const std::string code_str = std::to_string(code);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += code_str;
    out += (i + 1 == lines.size()) ? ' ' : '-';
    if (!enhanced.empty()) {
      out += enhanced;
      if (!lines[i].empty()) out += ' ';
    }
    out += lines[i];
    out += "\r\n";
  }
  return out;
}

std::string Reply::summary() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += ' ' + enhanced;
  std::string t = text();
  if (!t.empty()) out += ' ' + t;
  return out;
}

namespace {

bool is_enhanced(std::string_view s, int code) {
  // class "." subject "." detail; class must match the basic code's class.
  if (s.size() < 5 || s[1] != '.') return false;
  if (s[0] - '0' != code / 100 || (s[0] != '2' && s[0] != '4' && s[0] != '5')) return false;
  std::size_t i = 2, digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (digits == 0 || digits > 3 || i >= s.size() || s[i] != '.') return false;
  ++i;
  digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  return digits > 0 && digits <= 3 && i == s.size();
}

}  // namespace

std::pair<std::string, std::string> split_enhanced(int code, std::string_view text) {
  auto sp = text.find(' ');
  std::string_view first = text.substr(0, sp);
  if (!is_enhanced(first, code)) return {"", std::string(text)};
  return {std::string(first), sp == std::string_view::npos ? std::string() : std::string(text.substr(sp + 1))};
}

void ReplyParser::reset() {
  code_ = 0;
  lines_.clear();
  error_.clear();
}

std::optional<Reply> ReplyParser::feed(std::string_view line) {
  if (!error_.empty()) return std::nullopt;
  if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
      !std::isdigit(static_cast<unsigned char>(line[1])) || !std::isdigit(static_cast<unsigned char>(line[2])) ||
      line[0] < '2' || line[0] > '5' || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    error_ = "malformed reply line";
    return std::nullopt;
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (code_ != 0 && code != code_) {
    error_ = "reply code changed inside a multi-line reply";
    return std::nullopt;
  }
  code_ = code;
  bool last = line.size() == 3 || line[3] == ' ';
  lines_.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
  if (!last) return std::nullopt;

  // Enhanced code: the first one a line carries (RFC 2034 puts one on every
  // line; some servers only on the last); stripped from every line that repeats it.
  Reply r;
  r.code = code_;
  std::string enh;
  for (const auto& l : lines_)
    if (enh.empty()) enh = split_enhanced(code_, l).first;
  r.enhanced = enh;
  for (auto& l : lines_) {
    if (!enh.empty()) {
      auto [e, t] = split_enhanced(code_, l);
      r.lines.push_back(e == enh ? t : l);
    } else {
      r.lines.push_back(l);
    }
  }
  code_ = 0;
  lines_.clear();
  return r;
}

}  // namespace postern::smtp
