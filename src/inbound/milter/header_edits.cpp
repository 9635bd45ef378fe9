#include "inbound/milter/header_edits.hpp"

#include <algorithm>
#include <cctype>

namespace postern::milter {
namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool field_name_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != ':';
}

}  // namespace

HeaderSection split_header_section(std::string_view message) {
  HeaderSection s;
  std::size_t pos = 0;
  while (pos < message.size()) {
    auto eol = message.find("\r\n", pos);
    if (eol == std::string_view::npos) break;  // an incomplete last line
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty()) {
      s.blank_line = true;
      pos = eol + 2;
      break;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !s.fields.empty()) {
      s.fields.back().raw.append(message.substr(pos, eol + 2 - pos));
      pos = eol + 2;
      continue;
    }
    auto colon = line.find(':');
    std::string_view name = colon == std::string_view::npos ? std::string_view() : line.substr(0, colon);
    // "Name :" (the obsolete form) keeps its blanks out of the name.
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (name.empty() || !std::all_of(name.begin(), name.end(), field_name_char)) break;  // the body starts here
    s.fields.push_back({std::string(name), std::string(message.substr(pos, eol + 2 - pos))});
    pos = eol + 2;
  }
  s.consumed = pos;
  return s;
}

std::string field_value(const HeaderField& field, bool leading_space) {
  std::string_view raw(field.raw);
  auto colon = raw.find(':');
  std::string_view v = colon == std::string_view::npos ? std::string_view() : raw.substr(colon + 1);
  if (v.size() >= 2 && v.substr(v.size() - 2) == "\r\n") v.remove_suffix(2);
  // As Sendmail and Postfix: one space after the colon is eaten, a tab is not.
  if (!leading_space && !v.empty() && v.front() == ' ') v.remove_prefix(1);
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') continue;
    out += v[i];
  }
  return out;
}

HeaderField make_field(std::string_view name, std::string_view value, bool leading_space) {
  HeaderField f;
  f.name = std::string(name);
  f.raw = f.name + ":";
  if (!leading_space) f.raw += ' ';
  bool line_start = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\r') continue;
    if (c == '\n') {
      if (line_start) f.raw += '\t';  // an empty line would end the header section
      f.raw += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c != ' ' && c != '\t') f.raw += '\t';  // stays a fold, never a new field
    line_start = false;
    f.raw += c == '\0' ? ' ' : c;
  }
  if (line_start) f.raw += '\t';
  f.raw += "\r\n";
  return f;
}

void apply_edit(std::vector<HeaderField>& fields, const HeaderEdit& edit, std::size_t hidden) {
  const auto& c = edit.change;
  switch (c.kind) {
    case HeaderChange::Kind::add:
      fields.push_back(make_field(c.name, c.value, edit.leading_space));
      return;
    case HeaderChange::Kind::insert: {
      auto at = std::min<std::size_t>(c.index, fields.size());
      fields.insert(fields.begin() + static_cast<std::ptrdiff_t>(at), make_field(c.name, c.value, edit.leading_space));
      return;
    }
    case HeaderChange::Kind::change: {
      std::uint32_t seen = 0;
      for (auto it = fields.begin(); it != fields.end(); ++it) {
        if (static_cast<std::size_t>(it - fields.begin()) == hidden || !same_name(it->name, c.name)) continue;
        // Sendmail and Postfix count an index of 0 as the first, as 1 is.
        if (++seen < std::max<std::uint32_t>(c.index, 1)) continue;
        if (c.value.empty()) fields.erase(it);
        else *it = make_field(it->name, c.value, edit.leading_space);
        return;
      }
      if (!c.value.empty()) fields.push_back(make_field(c.name, c.value, edit.leading_space));
      return;
    }
  }
}

std::string join(const std::vector<HeaderField>& fields, bool blank_line) {
  std::string out;
  for (auto& f : fields) out += f.raw;
  if (blank_line) out += "\r\n";
  return out;
}

}  // namespace postern::milter
