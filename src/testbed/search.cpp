#include "testbed/search.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "util/strings.hpp"

namespace postern::testbed {
namespace {

using Kind = SearchTerm::Kind;
using std::chrono::system_clock;

// Prefixed terms whose value is matched as a part of a field.
struct Prefix {
  std::string_view name;
  Kind kind;
};
constexpr Prefix prefixes[] = {{"to:", Kind::to},           {"from:", Kind::from},
                               {"cc:", Kind::cc},           {"bcc:", Kind::bcc},
                               {"reply-to:", Kind::reply_to}, {"addressed:", Kind::addressed},
                               {"subject:", Kind::subject}, {"message-id:", Kind::message_id},
                               {"tag:", Kind::tag},         {"inbox:", Kind::inbox},         {"after:", Kind::after},
                               {"before:", Kind::before}};

struct Flag {
  std::string_view word;
  Kind kind;
};
constexpr Flag flags[] = {{"is:read", Kind::is_read},
                          {"is:unread", Kind::is_unread},
                          {"is:tagged", Kind::is_tagged},
                          {"has:attachment", Kind::has_attachment},
                          {"has:attachments", Kind::has_attachment},
                          {"has:inline", Kind::has_inline},
                          {"has:inlines", Kind::has_inline}};

bool digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Reads `n` digits at `at` (advancing it); -1 when they are not there.
int number(std::string_view s, std::size_t& at, std::size_t n) {
  if (at + n > s.size() || !digits(s.substr(at, n))) return -1;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) v = v * 10 + (s[at + i] - '0');
  at += n;
  return v;
}

bool contains(std::string_view haystack_lower, std::string_view needle_lower) {
  if (needle_lower.size() < 4) return haystack_lower.find(needle_lower) != std::string_view::npos;
  // Skips ahead by up to the needle's length: a needle made to match almost
  // everywhere ("a b" in "a a a …") costs no more than a rare one.
  const std::boyer_moore_horspool_searcher searcher(needle_lower.begin(), needle_lower.end());
  return std::search(haystack_lower.begin(), haystack_lower.end(), searcher) != haystack_lower.end();
}

bool mailbox_has(const Mailbox& m, std::string_view value) {
  return contains(util::to_lower(m.name), value) || contains(util::to_lower(m.address), value);
}

bool any_has(const std::vector<Mailbox>& list, std::string_view value) {
  return std::any_of(list.begin(), list.end(), [&](const Mailbox& m) { return mailbox_has(m, value); });
}

bool positive_match(const SearchTerm& t, const MessageSummary& m) {
  switch (t.kind) {
    case Kind::text: return m.search_text && contains(*m.search_text, t.value);
    case Kind::to: return any_has(m.header_to, t.value);
    case Kind::from: return mailbox_has(m.header_from, t.value);
    case Kind::cc: return any_has(m.cc, t.value);
    case Kind::bcc: return any_has(m.bcc, t.value);
    case Kind::reply_to: return any_has(m.reply_to, t.value);
    case Kind::addressed:
      return any_has(m.header_to, t.value) || mailbox_has(m.header_from, t.value) || any_has(m.cc, t.value) ||
             any_has(m.bcc, t.value) || any_has(m.reply_to, t.value);
    case Kind::subject: return contains(util::to_lower(m.subject), t.value);
    case Kind::message_id: return contains(util::to_lower(m.message_id), t.value);
    case Kind::tag:
      return std::any_of(m.tags.begin(), m.tags.end(), [&](const std::string& tag) { return util::iequals(tag, t.value); });
    case Kind::inbox: return std::binary_search(m.inboxes.begin(), m.inboxes.end(), t.value);
    case Kind::is_read: return m.read;
    case Kind::is_unread: return !m.read;
    case Kind::is_tagged: return !m.tags.empty();
    case Kind::has_attachment: return m.attachments > 0;
    case Kind::has_inline: return m.inlines > 0;
    case Kind::after: return m.received >= t.time;
    case Kind::before: return m.received <= t.time;
    case Kind::larger: return m.size > t.size;
    case Kind::smaller: return m.size < t.size;
  }
  return false;
}

}  // namespace

std::vector<std::string> search_words(std::string_view query) {
  std::vector<std::string> out;
  std::string word;
  bool quoted = false;
  const auto flush = [&] {
    std::string w;
    for (char c : word)
      if (c != '"') w += c;
    const auto trimmed = util::trim(w);
    if (!trimmed.empty()) out.emplace_back(trimmed);
    word.clear();
  };
  for (char c : query) {
    if (c == '"') {
      quoted = !quoted;
      word += c;
    } else if (!quoted && c == ' ') {
      flush();
    } else {
      word += c;
    }
  }
  flush();
  return out;
}

std::optional<system_clock::time_point> parse_search_date(std::string_view text) {
  const std::string s = util::to_lower(util::trim(text));
  if (digits(s) && (s.size() == 10 || s.size() == 13)) {
    const long long v = std::stoll(s);
    if ((s.size() == 10 ? v : v / 1000) > 7'000'000'000) return std::nullopt;  // past 2191: beyond the clock
    return s.size() == 10 ? system_clock::time_point(std::chrono::seconds(v))
                          : system_clock::time_point(std::chrono::milliseconds(v));
  }
  std::size_t at = 0;
  const int y = number(s, at, 4);
  if (y < 0 || at >= s.size() || (s[at] != '-' && s[at] != '/')) return std::nullopt;
  const char sep = s[at++];
  const int mo = number(s, at, 2);
  if (mo < 0 || at >= s.size() || s[at++] != sep) return std::nullopt;
  const int d = number(s, at, 2);
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(std::max(mo, 0))),
                                        std::chrono::day(static_cast<unsigned>(std::max(d, 0)))};
  if (d < 0 || !ymd.ok() || y < 1900 || y > 2200) return std::nullopt;  // the clock counts nanoseconds: ±292 years
  system_clock::time_point t = std::chrono::sys_days(ymd);
  if (at == s.size()) return t;
  if (s[at] != 't' && s[at] != ' ') return std::nullopt;
  ++at;
  const int h = number(s, at, 2);
  if (h < 0 || h > 23 || at >= s.size() || s[at++] != ':') return std::nullopt;
  const int mi = number(s, at, 2);
  if (mi < 0 || mi > 59) return std::nullopt;
  int sec = 0;
  if (at < s.size() && s[at] == ':') {
    ++at;
    sec = number(s, at, 2);
    if (sec < 0 || sec > 60) return std::nullopt;
  }
  t += std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(sec);
  if (at < s.size() && s[at] == '.') {
    ++at;
    long long frac = 0, scale = 1'000'000'000;
    std::size_t n = 0;
    for (; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, ++n)
      if (n < 9) frac = frac * 10 + (s[at] - '0'), scale /= 10;
    if (n == 0) return std::nullopt;
    t += std::chrono::duration_cast<system_clock::duration>(std::chrono::nanoseconds(frac * scale));
  }
  if (at == s.size() || (s[at] == 'z' && at + 1 == s.size())) return t;
  if (s[at] != '+' && s[at] != '-') return std::nullopt;
  const int sign = s[at++] == '+' ? 1 : -1;
  const int oh = number(s, at, 2);
  if (at < s.size() && s[at] == ':') ++at;
  const int om = number(s, at, 2);
  if (oh < 0 || oh > 23 || om < 0 || om > 59 || at != s.size()) return std::nullopt;
  return t - sign * (std::chrono::hours(oh) + std::chrono::minutes(om));
}

std::uint64_t parse_search_size(std::string_view text) {
  const std::string s = util::to_lower(text);
  std::size_t at = 0;
  while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
  if (at == 0 || at > 15) return 0;
  double value = std::stod(s.substr(0, at));
  if (at < s.size() && s[at] == '.') {
    const auto start = ++at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    if (at == start || at - start > 15) return 0;
    value = std::stod(s.substr(0, at));
  }
  if (at < s.size() && s[at] == ' ') ++at;
  const auto unit = std::string_view(s).substr(at);
  if (unit.empty()) return static_cast<std::uint64_t>(value);
  if (unit == "k" || unit == "kb") return static_cast<std::uint64_t>(value * 1024);
  if (unit == "m" || unit == "mb") return static_cast<std::uint64_t>(value * 1024 * 1024);
  return 0;
}

SearchQuery parse_search(std::string_view query) {
  if (query.size() > max_query_octets)
    throw std::invalid_argument("a search is at most " + std::to_string(max_query_octets) + " octets, this one has " +
                                std::to_string(query.size()));
  SearchQuery out;
  for (std::string w : search_words(query)) {
    if (clean_search_text(w).empty()) continue;
    SearchTerm t;
    if (w.size() > 1 && (w[0] == '-' || w[0] == '!')) {
      t.exclude = true;
      w.erase(0, 1);
    }
    const std::string lw = util::to_lower(w);
    bool known = false;
    for (const auto& f : flags)
      if (lw == f.word) {
        t.kind = f.kind;
        known = true;
      }
    bool skip = false;
    for (const auto& p : prefixes) {
      if (known || !lw.starts_with(p.name)) continue;
      known = true;
      t.kind = p.kind;
      const std::string_view rest = std::string_view(w).substr(p.name.size());
      // As Mailpit: the subject is taken as written, the others cleaned.
      t.value = p.kind == Kind::subject ? util::to_lower(rest) : clean_search_text(rest);
      skip = t.value.empty();  // "to:" with nothing after it is no term
      if (!skip && (p.kind == Kind::after || p.kind == Kind::before)) {
        auto when = parse_search_date(t.value);
        if (!when)
          throw std::invalid_argument(std::string(p.name) + " expects a date such as 2025-01-31 or 2025-01-31T12:00:00Z, not " +
                                      util::printable(rest, 60));
        t.time = *when;
      }
    }
    if (skip) continue;
    for (auto [name, kind] : {std::pair{std::string_view("larger:"), Kind::larger}, std::pair{std::string_view("smaller:"), Kind::smaller}}) {
      if (known || !lw.starts_with(name)) continue;
      const auto size = parse_search_size(clean_search_text(std::string_view(lw).substr(name.size())));
      if (size == 0) continue;  // as Mailpit: then it is free text
      known = true;
      t.kind = kind;
      t.size = size;
    }
    if (!known) {
      t.kind = Kind::text;
      t.value = clean_search_text(lw);
    }
    const bool repeated = std::any_of(out.terms.begin(), out.terms.end(), [&](const SearchTerm& u) {
      return u.kind == t.kind && u.exclude == t.exclude && u.value == t.value && u.time == t.time && u.size == t.size;
    });
    if (!repeated) out.terms.push_back(std::move(t));
    if (out.terms.size() > max_query_terms)
      throw std::invalid_argument("a search has at most " + std::to_string(max_query_terms) + " terms");
  }
  return out;
}

bool matches(const SearchQuery& query, const MessageSummary& message) {
  return std::all_of(query.terms.begin(), query.terms.end(),
                     [&](const SearchTerm& t) { return positive_match(t, message) != t.exclude; });
}

}  // namespace postern::testbed
