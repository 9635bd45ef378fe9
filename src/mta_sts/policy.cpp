#include "mta_sts/policy.hpp"

#include <algorithm>
#include <charconv>

#include "util/strings.hpp"

namespace postern::mta_sts {

namespace {

constexpr std::int64_t max_max_age = 31557600;  // RFC 8461 §3.2: one year

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// A host name or "*." + one: labels of letters, digits and '-'.
bool valid_pattern(std::string_view p) {
  if (p.substr(0, 2) == "*.") p.remove_prefix(2);
  if (p.empty() || p.size() > 253) return false;
  std::size_t label = 0;
  for (char c : p) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (alnum(c) || c == '-') {
      ++label;
    } else {
      return false;
    }
  }
  return label > 0;
}

}  // namespace

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::enforce: return "enforce";
    case Mode::testing: return "testing";
    case Mode::none: return "none";
  }
  return "none";
}

std::optional<std::string> record_id(const std::vector<std::string>& records, std::string* error) {
  std::vector<std::string_view> sts;
  for (const auto& r : records)
    if (std::string_view(r).substr(0, 7) == "v=STSv1") sts.push_back(r);
  if (sts.size() != 1) {
    if (sts.size() > 1 && error) *error = "more than one v=STSv1 record";
    return std::nullopt;
  }
  std::optional<std::string> id;
  std::string_view rest = sts.front();
  bool first = true;
  while (!rest.empty()) {
    const auto semi = rest.find(';');
    const std::string_view field = trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    if (field.empty()) continue;
    const auto eq = field.find('=');
    const std::string_view key = trim(field.substr(0, eq)), value = eq == std::string_view::npos ? "" : trim(field.substr(eq + 1));
    if (first && (key != "v" || value != "STSv1")) break;
    first = false;
    if (key == "id") {
      if (value.empty() || value.size() > 32 || !std::all_of(value.begin(), value.end(), alnum)) {
        if (error) *error = "malformed id in the v=STSv1 record";
        return std::nullopt;
      }
      id = std::string(value);
    }
  }
  if (!id && error) *error = "the v=STSv1 record has no id";
  return id;
}

std::optional<Policy> parse_policy(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<Policy> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  Policy p;
  bool version = false, mode = false, max_age = false;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail("line " + std::to_string(line_no) + ": no \"key: value\"");
    const std::string_view key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (key == "version") {
      if (value != "STSv1") return fail("version is not STSv1");
      version = true;
    } else if (key == "mode") {
      if (value == "enforce") p.mode = Mode::enforce;
      else if (value == "testing") p.mode = Mode::testing;
      else if (value == "none") p.mode = Mode::none;
      else return fail("mode is not enforce, testing or none");
      mode = true;
    } else if (key == "max_age") {
      std::int64_t v = -1;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc{} || end != value.data() + value.size() || v < 0 || value.size() > 10)
        return fail("max_age is not a number of seconds");
      p.max_age = std::chrono::seconds(std::min(v, max_max_age));
      max_age = true;
    } else if (key == "mx") {
      const std::string pattern = util::to_lower(value);
      if (!valid_pattern(pattern)) return fail("mx \"" + util::printable(value, 80) + "\" is not a host name");
      if (p.mx.size() < 100) p.mx.push_back(pattern);
    }
  }
  if (!version) return fail("no version");
  if (!mode) return fail("no mode");
  if (!max_age) return fail("no max_age");
  if (p.mode != Mode::none && p.mx.empty()) return fail("no mx");
  return p;
}

bool mx_allowed(const Policy& policy, std::string_view host_in) {
  std::string host = util::to_lower(host_in);
  if (!host.empty() && host.back() == '.') host.pop_back();
  for (const auto& pattern : policy.mx) {
    if (pattern.substr(0, 2) == "*.") {
      const std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.org"
      if (host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          host.find('.') == host.size() - suffix.size())
        return true;
    } else if (host == pattern) {
      return true;
    }
  }
  return false;
}

}  // namespace postern::mta_sts
