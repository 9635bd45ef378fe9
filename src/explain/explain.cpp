// Lookup, reply-line parsing, recognition of common reply texts, the short
// one-line meaning and comparisons, over the tables of knowledge.cpp.
// RFC 5321 §4.2 (reply codes), RFC 3463 §2 (enhanced code syntax),
// RFC 2034 §4 (enhanced code after the basic code on each line).
#include <algorithm>
#include <cstdlib>

#include "explain/explain.hpp"
#include "explain/knowledge.hpp"
#include "util/strings.hpp"

namespace postern::explain {
namespace {

using detail::index;
using detail::knowledge;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

bool digits(std::string_view s, std::size_t min, std::size_t max) {
  if (s.size() < min || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), is_digit);
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

std::string label_s(std::string_view key, Lang lang) { return std::string(label(key, lang)); }

Class make_class(std::string_view id, Lang lang) {
  Class c;
  const auto& k = knowledge();
  auto it = k.classes.find(id);
  if (it == k.classes.end()) return c;
  auto i = index(lang);
  c.id = it->second.id;
  c.name = it->second.name[i];
  c.description = it->second.description[i];
  c.next_step = it->second.next_step[i];
  return c;
}

std::string class_short(std::string_view id, Lang lang) {
  const auto& k = knowledge();
  auto it = k.classes.find(id);
  return it == k.classes.end() ? std::string() : it->second.short_name[index(lang)];
}

Subject make_subject(std::string_view id, Lang lang) {
  Subject s;
  const auto& k = knowledge();
  auto it = k.subjects.find(id);
  if (it == k.subjects.end()) return s;
  s.id = it->second.id;
  s.name = it->second.name[index(lang)];
  s.description = it->second.description[index(lang)];
  return s;
}

void fill_text(Entry& e, const detail::CodeRecord& rec, Lang lang) {
  const auto& t = rec.text[index(lang)];
  e.title = t.title;
  e.meaning = t.meaning;
  e.when = t.when;
  e.fix_sender = t.fix_sender;
  e.fix_admin = t.fix_admin;
  e.related = rec.related;
  e.references = rec.references;
}

// "4.2.0" -> "X.2.0"; "4.2.0" -> subject "X.2.X".
std::string registry_form(std::string_view enhanced) { return "X" + std::string(enhanced.substr(1)); }
std::string subject_of(std::string_view enhanced) {
  auto last = enhanced.rfind('.');
  return "X" + std::string(enhanced.substr(1, last - 1)) + ".X";
}

std::optional<Entry> lookup_basic(std::string_view code, Lang lang) {
  const auto& k = knowledge();
  auto it = k.basic_index.find(code);
  if (it == k.basic_index.end()) return std::nullopt;
  Entry e;
  e.code = std::string(code);
  e.klass = make_class(std::string(code.substr(0, 1)) + "xx", lang);
  fill_text(e, k.basic[it->second], lang);
  return e;
}

std::optional<Entry> lookup_enhanced(std::string_view code, Lang lang) {
  const auto& k = knowledge();
  std::string reg = code[0] == 'X' ? std::string(code) : registry_form(code);
  auto it = k.enhanced_index.find(reg);
  if (it == k.enhanced_index.end()) return std::nullopt;
  Entry e;
  e.code = std::string(code);
  e.enhanced = true;
  if (code[0] != 'X') e.klass = make_class(std::string(code.substr(0, 1)) + ".X.X", lang);
  e.subject = make_subject(subject_of(code), lang);
  fill_text(e, k.enhanced[it->second], lang);
  return e;
}

// A code that is well formed but not registered: explained by its class
// (basic) or by its subject's X.S.0 entry (enhanced).
Entry generic_basic(std::string_view code, Lang lang) {
  Entry e;
  e.code = std::string(code);
  e.generic = true;
  e.klass = make_class(std::string(code.substr(0, 1)) + "xx", lang);
  e.title = e.klass.name;
  e.meaning = e.klass.description;
  e.when = label_s("generic_when", lang);
  e.fix_sender = e.klass.next_step;
  e.fix_admin = label_s("generic_fix_admin", lang);
  e.references = {"RFC 5321 §4.2.1"};
  return e;
}

Entry generic_enhanced(std::string_view code, Lang lang) {
  std::string subject_zero = std::string(code.substr(0, code.rfind('.'))) + ".0";
  if (auto base = lookup_enhanced(subject_zero, lang)) {
    base->code = std::string(code);
    base->generic = true;
    base->when = label_s("generic_when", lang) + " " + base->when;
    return *base;
  }
  Entry e;
  e.code = std::string(code);
  e.enhanced = true;
  e.generic = true;
  e.klass = make_class(std::string(code.substr(0, 1)) + ".X.X", lang);
  e.title = e.klass.name;
  e.meaning = e.klass.description;
  e.when = label_s("generic_when", lang);
  e.fix_sender = e.klass.next_step;
  e.fix_admin = label_s("generic_fix_admin", lang);
  e.references = {"RFC 3463 §2"};
  return e;
}

// Finds "try again in 300 seconds", "retry after 5 minutes", "wait 60s",
// "greylisted for 300 seconds". The number must follow one of the words
// below; a unit is optional (seconds) except after "for".
std::optional<std::chrono::seconds> find_retry_after(std::string_view text) {
  std::string s = lower_ascii(text);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_digit(s[i]) || (i > 0 && (is_digit(s[i - 1]) || s[i - 1] == '.' || (s[i - 1] >= 'a' && s[i - 1] <= 'z')))) {
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && is_digit(s[j])) ++j;
    if (j - i > 7) {
      i = j;
      continue;
    }
    long long n = std::atoll(s.substr(i, j - i).c_str());
    // Up to four words before the number, nearest first ("about", "least"
    // and "at" skipped).
    std::vector<std::string> before;
    std::size_t end = i;
    while (before.size() < 4 && end > 0) {
      while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == ',')) --end;
      std::size_t begin = end;
      while (begin > 0 && s[begin - 1] >= 'a' && s[begin - 1] <= 'z') --begin;
      if (begin == end) break;
      std::string w = s.substr(begin, end - begin);
      if (w != "about" && w != "least" && w != "at") before.push_back(w);
      end = begin;
    }
    // The unit after it.
    std::size_t k = j;
    while (k < s.size() && s[k] == ' ') ++k;
    std::size_t u = k;
    while (u < s.size() && s[u] >= 'a' && s[u] <= 'z') ++u;
    std::string unit = s.substr(k, u - k);
    long long mult = 0;
    if (unit == "s" || unit == "sec" || unit == "secs" || unit == "second" || unit == "seconds") mult = 1;
    if (unit == "m" || unit == "min" || unit == "mins" || unit == "minute" || unit == "minutes") mult = 60;
    if (unit == "h" || unit == "hr" || unit == "hrs" || unit == "hour" || unit == "hours") mult = 3600;
    auto has = [&](std::initializer_list<std::string_view> words) {
      for (std::size_t b = 1; b < before.size(); ++b) {
        for (auto w : words) {
          if (before[b] == w || before[b].compare(0, w.size(), w) == 0) return true;
        }
      }
      return false;
    };
    std::string word = before.empty() ? std::string() : before[0];
    bool keyword = word == "wait" || word == "retry" || word == "again";
    if ((word == "in" || word == "after") && has({"again", "retry", "try", "back", "later", "wait"})) keyword = true;
    if (word == "for" && mult != 0 && has({"greylist", "graylist", "deferred", "delayed"})) keyword = true;
    if (keyword) return std::chrono::seconds(n * (mult == 0 ? 1 : mult));
    i = j;
  }
  return std::nullopt;
}

std::string format_wait(std::chrono::seconds wait, Lang lang) {
  long long s = wait.count();
  std::string out = std::to_string(s) + " " + label_s(s == 1 ? "second" : "seconds", lang);
  if (s >= 7200) {
    long long h = (s + 1800) / 3600;
    out += " (" + std::to_string(h) + " " + label_s(h == 1 ? "hour" : "hours", lang) + ")";
  } else if (s >= 120) {
    long long m = (s + 30) / 60;
    out += " (" + std::to_string(m) + " " + label_s(m == 1 ? "minute" : "minutes", lang) + ")";
  }
  return out;
}

std::vector<Hint> find_hints(std::string_view text, const std::optional<std::chrono::seconds>& retry, Lang lang) {
  std::vector<Hint> out;
  if (text.empty()) return out;
  std::string s = lower_ascii(text);
  std::string wait = retry ? format_wait(*retry, lang) : label_s("wait_unknown", lang);
  for (const auto& rec : knowledge().texts) {
    bool hit = std::any_of(rec.match.begin(), rec.match.end(),
                           [&](const std::string& m) { return s.find(m) != std::string::npos; });
    if (!hit) continue;
    auto i = index(lang);
    out.push_back(Hint{rec.id, rec.title[i], replace_all(rec.meaning[i], "{wait}", wait),
                       replace_all(rec.advice[i], "{wait}", wait)});
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::optional<Lang> parse_lang(std::string_view name) {
  std::string n = lower_ascii(name);
  auto starts = [&](std::string_view p) {
    return n.compare(0, p.size(), p) == 0 &&
           (n.size() == p.size() || n[p.size()] == '_' || n[p.size()] == '.' || n[p.size()] == '@' ||
            n[p.size()] == '-');
  };
  if (starts("tr")) return Lang::tr;
  if (starts("en")) return Lang::en;
  return std::nullopt;
}

Lang default_lang() {
  for (const char* var : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return parse_lang(v).value_or(Lang::en);
  }
  return Lang::en;
}

std::string_view lang_name(Lang lang) { return lang == Lang::tr ? "tr" : "en"; }

bool is_basic_code(std::string_view s) {
  return s.size() == 3 && s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '5' && is_digit(s[2]);
}

namespace {
// Servers in the wild also send codes such as 471 whose second digit RFC
// 5321 does not define; they are explained by their class.
bool is_loose_basic_code(std::string_view s) {
  return s.size() == 3 && s[0] >= '2' && s[0] <= '5' && is_digit(s[1]) && is_digit(s[2]);
}
}  // namespace

bool is_enhanced_code(std::string_view s) {
  // RFC 3463 §2: class "." subject "." detail; class 2, 4 or 5; subject and
  // detail 1*3digit.
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  auto rest = s.substr(2);
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) return false;
  return digits(rest.substr(0, dot), 1, 3) && digits(rest.substr(dot + 1), 1, 3);
}

std::optional<Entry> lookup(std::string_view code, Lang lang) {
  if (is_basic_code(code)) return lookup_basic(code, lang);
  if (is_enhanced_code(code)) return lookup_enhanced(code, lang);
  if (!code.empty() && code[0] == 'X' && is_enhanced_code("2" + std::string(code.substr(1)))) {
    return lookup_enhanced(code, lang);
  }
  return std::nullopt;
}

std::optional<Entry> lookup(int basic_code, Lang lang) { return lookup(std::to_string(basic_code), lang); }

Explanation explain_reply(int code, std::string_view enhanced, std::string_view text, Lang lang) {
  Explanation e;
  e.code = code;
  e.text = std::string(trim(text));
  std::string basic = std::to_string(code);
  if (code != 0 && is_loose_basic_code(basic)) {
    e.basic = lookup_basic(basic, lang);
    if (!e.basic) e.basic = generic_basic(basic, lang);
  }
  // The enhanced code may still sit at the front of the text.
  if (enhanced.empty()) {
    auto t = trim(text);
    auto sp = t.find(' ');
    auto first = t.substr(0, sp);
    if (is_enhanced_code(first)) {
      enhanced = first;
      e.text = std::string(sp == std::string_view::npos ? std::string_view{} : trim(t.substr(sp + 1)));
    }
  }
  if (!enhanced.empty() && is_enhanced_code(enhanced)) {
    e.enhanced_code = std::string(enhanced);
    e.enhanced = lookup_enhanced(enhanced, lang);
    if (!e.enhanced) e.enhanced = generic_enhanced(enhanced, lang);
    // RFC 3463 §2 / RFC 2034 §4: the enhanced class matches the basic one.
    if (code != 0 && enhanced[0] != basic[0]) {
      e.notes.push_back(replace_all(replace_all(label_s("note_class_mismatch", lang), "{basic}", basic),
                                    "{enhanced}", std::string(enhanced)));
    }
  }
  if (e.basic && e.basic->generic) e.notes.push_back(replace_all(label_s("note_unregistered", lang), "{code}", basic));
  if (e.enhanced && e.enhanced->generic) {
    e.notes.push_back(replace_all(label_s("note_unregistered", lang), "{code}", e.enhanced_code));
  }
  // Only failures carry texts worth recognising: a 334 text is base64, and
  // greetings or 250 texts ("ESMTP, no spam please") describe no problem.
  char cls = code != 0 ? basic[0] : (e.enhanced_code.empty() ? '0' : e.enhanced_code[0]);
  if (cls == '4' || cls == '5') {
    e.retry_after = find_retry_after(e.text);
    e.hints = find_hints(e.text, e.retry_after, lang);
  }
  return e;
}

std::optional<Explanation> explain_input(std::string_view input, Lang lang, std::string* error) {
  auto fail = [&](std::string msg) -> std::optional<Explanation> {
    if (error != nullptr) *error = std::move(msg);
    return std::nullopt;
  };
  auto in = trim(input);
  if (in.empty()) return fail(label_s("error_empty", lang));
  auto quoted = [&] { return "\"" + util::printable(in, 60) + "\""; };
  // A bare code: must be registered.
  if (in.find(' ') == std::string_view::npos && in.find('-') == std::string_view::npos) {
    bool registry = in[0] == 'X' && is_enhanced_code("2" + std::string(in.substr(1)));
    if (is_loose_basic_code(in) || is_enhanced_code(in) || registry) {
      auto entry = lookup(in, lang);
      if (!entry) return fail(replace_all(label_s("error_unknown", lang), "{code}", std::string(in)));
      Explanation e;
      if (entry->enhanced) {
        e.enhanced_code = std::string(in);
        e.enhanced = std::move(entry);
      } else {
        e.code = std::atoi(std::string(in).c_str());
        e.basic = std::move(entry);
      }
      return e;
    }
    return fail(replace_all(label_s("error_malformed", lang), "{input}", quoted()));
  }
  // A reply line: "NNN[ -]text" or "C.S.D text".
  if (in.size() >= 3 && is_digit(in[0]) && is_digit(in[1]) && is_digit(in[2]) &&
      (in.size() == 3 || in[3] == ' ' || in[3] == '-')) {
    auto code = in.substr(0, 3);
    if (!is_loose_basic_code(code)) return fail(replace_all(label_s("error_malformed", lang), "{input}", quoted()));
    auto rest = in.size() > 4 ? in.substr(4) : std::string_view{};
    return explain_reply(std::atoi(std::string(code).c_str()), {}, rest, lang);
  }
  auto sp = in.find(' ');
  auto first = in.substr(0, sp);
  if (is_enhanced_code(first)) return explain_reply(0, first, in.substr(sp + 1), lang);
  return fail(replace_all(label_s("error_malformed", lang), "{input}", quoted()));
}

std::string short_meaning(int code, std::string_view enhanced, std::string_view text, Lang lang) {
  Explanation e = explain_reply(code, enhanced, text, lang);
  std::string out;
  const Entry* main = e.basic ? &*e.basic : (e.enhanced ? &*e.enhanced : nullptr);
  if (main == nullptr) return label_s("short_unknown", lang);
  out = class_short(main->klass.id, lang);
  if (out.empty()) out = main->klass.name;
  out += ": " + main->title;
  // Each title once: the enhanced title and hint titles often repeat it.
  std::vector<std::string> said{lower_ascii(main->title)};
  auto fresh = [&](const std::string& t) {
    std::string l = lower_ascii(t);
    if (std::find(said.begin(), said.end(), l) != said.end()) return false;
    said.push_back(l);
    return true;
  };
  if (e.basic && e.enhanced && !e.enhanced->generic && e.enhanced_code.size() >= 2 &&
      e.enhanced_code.substr(e.enhanced_code.size() - 2) != ".0" && fresh(e.enhanced->title)) {
    out += " (" + e.enhanced->title + ")";
  }
  std::size_t shown = 0;
  for (std::size_t i = 0; i < e.hints.size() && shown < 2; ++i) {
    if (!fresh(e.hints[i].title)) continue;
    out += (shown == 0 ? "; " : ", ") + e.hints[i].title;
    ++shown;
  }
  if (e.retry_after) {
    out += " — " + replace_all(label_s("retry_in", lang), "{wait}", format_wait(*e.retry_after, lang));
  }
  return out;
}

Advice advice(int code, std::string_view enhanced, std::string_view text, Lang lang) {
  Advice a;
  a.meaning = short_meaning(code, enhanced, text, lang);
  const Explanation e = explain_reply(code, enhanced, text, lang);
  const Entry* main = e.enhanced && !e.enhanced->generic ? &*e.enhanced
                      : e.basic                          ? &*e.basic
                      : e.enhanced                       ? &*e.enhanced
                                                         : nullptr;
  if (main == nullptr) return a;
  a.when = main->when;
  a.fix = !e.hints.empty() && !e.hints.front().advice.empty() ? e.hints.front().advice : main->fix_sender;
  return a;
}

Comparison compare(const std::vector<Explanation>& items, Lang lang) {
  Comparison c;
  c.items = items;
  auto main = [](const Explanation& e) -> const Entry* {
    return e.basic ? &*e.basic : (e.enhanced ? &*e.enhanced : nullptr);
  };
  auto name = [&](const Explanation& e) {
    const Entry* m = main(e);
    return m == nullptr ? std::string("?") : m->code;
  };
  auto cls = [&](const Explanation& e) {
    const Entry* m = main(e);
    return m == nullptr ? std::string() : m->klass.id + " " + m->klass.name;
  };
  // Key difference: the classes, then what a client does next under each.
  std::string kd;
  if (items.size() == 2) {
    bool same = main(items[0]) && main(items[1]) && main(items[0])->klass.id == main(items[1])->klass.id;
    std::string t = label_s(same ? "kd_same_class" : "kd_two", lang);
    t = replace_all(t, "{a}", name(items[0]));
    t = replace_all(t, "{b}", name(items[1]));
    t = replace_all(t, "{a_class}", cls(items[0]));
    t = replace_all(t, "{b_class}", cls(items[1]));
    kd = t;
  } else {
    for (const auto& it : items) {
      if (!kd.empty()) kd += "; ";
      kd += replace_all(replace_all(label_s("kd_each", lang), "{code}", name(it)), "{class}", cls(it));
    }
    kd += ".";
  }
  for (const auto& it : items) {
    const Entry* m = main(it);
    if (m == nullptr) continue;
    kd += "\n" + m->code + " (" + m->title + "): " + m->klass.next_step;
    if (it.retry_after) {
      kd += " " + replace_all(label_s("retry_in", lang), "{wait}", format_wait(*it.retry_after, lang)) + ".";
    }
  }
  c.key_difference = kd;
  for (const auto& it : items) {
    const Entry* m = main(it);
    if (m == nullptr) continue;
    std::string t = label_s("when_to_use_item", lang);
    t = replace_all(t, "{code}", m->code);
    t = replace_all(t, "{title}", m->title);
    t = replace_all(t, "{when}", m->when);
    t = replace_all(t, "{fix}", m->fix_sender);
    for (const auto& h : it.hints) t += " " + h.advice;
    c.when_to_use.push_back(t);
  }
  return c;
}

std::string_view label(std::string_view key, Lang lang) {
  const auto& labels = knowledge().labels[index(lang)];
  auto it = labels.find(key);
  if (it != labels.end()) return it->second;
  const auto& en = knowledge().labels[0];
  it = en.find(key);
  return it != en.end() ? std::string_view(it->second) : key;
}

std::vector<std::string> all_codes() {
  const auto& k = knowledge();
  std::vector<std::string> out;
  for (const auto& r : k.basic) out.push_back(r.code);
  std::vector<std::string> enh;
  for (const auto& r : k.enhanced) enh.push_back(r.code);
  // Numeric order: X.1.2 before X.1.10.
  std::sort(enh.begin(), enh.end(), [](const std::string& a, const std::string& b) {
    auto key = [](const std::string& s) {
      auto d1 = s.find('.'), d2 = s.rfind('.');
      return std::pair(std::atoi(s.substr(d1 + 1, d2 - d1 - 1).c_str()), std::atoi(s.substr(d2 + 1).c_str()));
    };
    return key(a) < key(b);
  });
  out.insert(out.end(), enh.begin(), enh.end());
  return out;
}

const std::vector<std::string>& data_problems() { return knowledge().problems; }

}  // namespace postern::explain

namespace postern::explain {

std::optional<FindingText> finding(std::string_view id, Lang lang) {
  const auto& k = detail::knowledge();
  auto it = k.findings.find(id);
  if (it == k.findings.end()) return std::nullopt;
  const auto i = detail::index(lang);
  const auto& r = it->second;
  return FindingText{r.id, r.severity, r.title[i], r.meaning[i], r.advice[i]};
}

std::vector<std::string> all_findings() {
  std::vector<std::string> out;
  for (const auto& [id, r] : detail::knowledge().findings) out.push_back(id);
  return out;
}

}  // namespace postern::explain
