// Text and JSON rendering of explanations. Text is wrapped by UTF-8 code
// points (Turkish letters are two octets, one column); colour is plain ANSI
// SGR and only added when the caller asks for it.
#include "explain/render.hpp"

#include "util/strings.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace postern::explain {
namespace {

std::size_t columns(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Cuts `word` after `cols` code points.
std::size_t cut_at(std::string_view word, std::size_t cols) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) {
      if (n == cols) return i;
      ++n;
    }
  }
  return word.size();
}

struct Style {
  bool on;
  std::string wrap(std::string_view s, const char* sgr) const {
    if (!on) return std::string(s);
    return std::string("\x1b[") + sgr + "m" + std::string(s) + "\x1b[0m";
  }
  std::string heading(std::string_view s) const { return wrap(s, "1"); }
  std::string code(std::string_view code) const {
    const char* sgr = "1";
    switch (code.empty() ? '0' : code[0]) {
      case '2': sgr = "1;32"; break;
      case '3': sgr = "1;36"; break;
      case '4': sgr = "1;33"; break;
      case '5': sgr = "1;31"; break;
      default: break;
    }
    return wrap(code, sgr);
  }
};

std::string lbl(std::string_view key, Lang lang) { return std::string(label(key, lang)); }

const Entry* main_entry(const Explanation& e) {
  return e.basic ? &*e.basic : (e.enhanced ? &*e.enhanced : nullptr);
}

std::vector<const Entry*> entries(const Explanation& e) {
  std::vector<const Entry*> out;
  if (e.basic) out.push_back(&*e.basic);
  if (e.enhanced) out.push_back(&*e.enhanced);
  return out;
}

std::string class_line(const Entry& e, Lang lang) {
  if (e.klass.id.empty()) return lbl("registry_form", lang);
  return e.klass.id + " " + e.klass.name + ". " + e.klass.description;
}

void render_entry(std::string& out, const Entry& e, const RenderOptions& o, const Style& st) {
  auto w = o.width;
  // Long titles (555's) wrap too; colour codes only ever surround whole words.
  out += wrap_hanging(st.code(e.code) + " " + st.heading(e.title), w, "", "  ");
  out += wrap_hanging(lbl("class", o.lang) + ": " + class_line(e, o.lang), w, "  ", "    ");
  if (e.enhanced && !e.subject.id.empty()) {
    out += wrap_hanging(lbl("subject", o.lang) + ": " + e.subject.id + " " + e.subject.name + ". " +
                            e.subject.description,
                        w, "  ", "    ");
  }
  out += "  " + st.heading(lbl("meaning", o.lang)) + "\n" + wrap(e.meaning, w, "    ");
  out += "  " + st.heading(lbl("when", o.lang)) + "\n" + wrap(e.when, w, "    ");
  out += "  " + st.heading(lbl("fix", o.lang)) + "\n";
  out += wrap_hanging(lbl("fix_sender", o.lang) + ": " + e.fix_sender, w, "    ", "      ");
  out += wrap_hanging(lbl("fix_admin", o.lang) + ": " + e.fix_admin, w, "    ", "      ");
  if (!e.related.empty()) {
    std::string rel;
    for (const auto& r : e.related) rel += (rel.empty() ? "" : ", ") + r;
    out += wrap_hanging(lbl("related", o.lang) + ": " + rel, w, "  ", "    ");
  }
  if (!e.references.empty()) {
    std::string refs;
    for (const auto& r : e.references) refs += (refs.empty() ? "" : ", ") + r;
    out += wrap_hanging(lbl("references", o.lang) + ": " + refs, w, "  ", "    ");
  }
}

void render_hints(std::string& out, const Explanation& e, const RenderOptions& o, const Style& st) {
  if (e.hints.empty() && !e.retry_after) return;
  out += st.heading(lbl("recognised", o.lang)) + "\n";
  for (const auto& h : e.hints) {
    out += wrap_hanging(h.title + ": " + h.meaning, o.width, "  ", "    ");
    out += wrap_hanging(lbl("advice", o.lang) + ": " + h.advice, o.width, "    ", "      ");
  }
  if (e.retry_after) {
    out += wrap(lbl("retry_hint", o.lang) + ": " + std::to_string(e.retry_after->count()) + " s", o.width, "  ");
  }
}

// --- JSON ---------------------------------------------------------------

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void json_list(std::string& out, const std::vector<std::string>& v) {
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    json_string(out, v[i]);
  }
  out += ']';
}

void json_kv(std::string& out, std::string_view k, std::string_view v, bool comma = true) {
  json_string(out, k);
  out += ':';
  json_string(out, v);
  if (comma) out += ',';
}

void json_entry(std::string& out, const std::optional<Entry>& e) {
  if (!e) {
    out += "null";
    return;
  }
  out += '{';
  json_kv(out, "code", e->code);
  out += "\"generic\":";
  out += e->generic ? "true," : "false,";
  out += "\"class\":{";
  json_kv(out, "id", e->klass.id);
  json_kv(out, "name", e->klass.name);
  json_kv(out, "description", e->klass.description);
  json_kv(out, "next_step", e->klass.next_step, false);
  out += "},";
  if (e->enhanced) {
    out += "\"subject\":{";
    json_kv(out, "id", e->subject.id);
    json_kv(out, "name", e->subject.name);
    json_kv(out, "description", e->subject.description, false);
    out += "},";
  }
  json_kv(out, "title", e->title);
  json_kv(out, "meaning", e->meaning);
  json_kv(out, "when", e->when);
  out += "\"fix\":{";
  json_kv(out, "sender", e->fix_sender);
  json_kv(out, "admin", e->fix_admin, false);
  out += "},\"related\":";
  json_list(out, e->related);
  out += ",\"references\":";
  json_list(out, e->references);
  out += '}';
}

void json_explanation(std::string& out, const Explanation& e) {
  out += '{';
  out += "\"code\":";
  out += e.code == 0 ? std::string("null") : std::to_string(e.code);
  out += ",\"enhanced_code\":";
  if (e.enhanced_code.empty()) {
    out += "null";
  } else {
    json_string(out, e.enhanced_code);
  }
  out += ',';
  json_kv(out, "text", e.text);
  out += "\"basic\":";
  json_entry(out, e.basic);
  out += ",\"enhanced\":";
  json_entry(out, e.enhanced);
  out += ",\"recognised\":[";
  for (std::size_t i = 0; i < e.hints.size(); ++i) {
    if (i) out += ',';
    out += '{';
    json_kv(out, "id", e.hints[i].id);
    json_kv(out, "title", e.hints[i].title);
    json_kv(out, "meaning", e.hints[i].meaning);
    json_kv(out, "advice", e.hints[i].advice, false);
    out += '}';
  }
  out += "],\"retry_after_seconds\":";
  out += e.retry_after ? std::to_string(e.retry_after->count()) : std::string("null");
  out += ",\"notes\":";
  json_list(out, e.notes);
  out += '}';
}

}  // namespace

namespace {
// A reply text came from a peer: what reaches the terminal is made
// printable here (JSON output escapes it by JSON's own rules instead).
std::string shown(std::string_view text) { return util::printable(text, 2048); }
}  // namespace

std::string wrap(std::string_view text, std::size_t width, std::string_view indent) {
  return wrap_hanging(text, width, indent, indent);
}

std::string wrap_hanging(std::string_view text, std::size_t width, std::string_view first, std::string_view rest) {
  std::string out;
  auto avail_for = [&](std::string_view ind) {
    std::size_t n = columns(ind);
    return width > n + 10 ? width - n : 10;
  };
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    std::string_view para = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    std::string_view indent = first;
    std::size_t avail = avail_for(indent);
    std::string line;
    std::size_t line_cols = 0;
    auto flush = [&] {
      out += std::string(indent) + line + "\n";
      line.clear();
      line_cols = 0;
      indent = rest;
      avail = avail_for(indent);
    };
    std::size_t i = 0;
    bool any = false;
    while (i < para.size()) {
      while (i < para.size() && para[i] == ' ') ++i;
      if (i >= para.size()) break;
      std::size_t j = para.find(' ', i);
      if (j == std::string_view::npos) j = para.size();
      std::string_view word = para.substr(i, j - i);
      i = j;
      any = true;
      // A word that does not fit goes to the next line first: that line's
      // indent may differ, so what is "too long" is judged there.
      if (line_cols > 0 && line_cols + 1 + columns(word) > avail) flush();
      // A word longer than a line is cut where the line ends.
      while (columns(word) > avail) {
        if (line_cols > 0) flush();
        auto cut = cut_at(word, avail);
        line = std::string(word.substr(0, cut));
        line_cols = avail;
        flush();
        word.remove_prefix(cut);
      }
      if (word.empty()) continue;
      std::size_t wc = columns(word);
      if (line_cols > 0 && line_cols + 1 + wc > avail) flush();
      if (line_cols > 0) {
        line += ' ';
        ++line_cols;
      }
      line += word;
      line_cols += wc;
    }
    if (line_cols > 0 || !any) flush();
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

bool colour_wanted(int fd) {
  const char* no = std::getenv("NO_COLOR");
  if (no != nullptr && *no != '\0') return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::strcmp(term, "dumb") == 0) return false;
  return ::isatty(fd) == 1;
}

std::string render(const Explanation& e, const RenderOptions& o) {
  Style st{o.colour};
  std::string out;
  bool line_input = !e.text.empty() || (e.basic && e.enhanced);
  if (line_input) {
    std::string reply = (e.code ? std::to_string(e.code) : std::string()) +
                        (e.enhanced_code.empty() ? "" : (e.code ? " " : "") + e.enhanced_code) +
                        (e.text.empty() ? "" : " " + shown(e.text));
    out += wrap_hanging(lbl("reply", o.lang) + ": " + reply, o.width, "", "  ");
    const Entry* m = main_entry(e);
    if (m != nullptr) {
      out += wrap_hanging(short_meaning(e.code, e.enhanced_code, e.text, o.lang), o.width, "  ", "    ");
    }
    out += "\n";
  }
  bool first = true;
  for (const Entry* en : entries(e)) {
    if (!first) out += "\n";
    first = false;
    render_entry(out, *en, o, st);
  }
  if (!e.hints.empty() || e.retry_after) {
    out += "\n";
    render_hints(out, e, o, st);
  }
  for (const auto& n : e.notes) out += wrap_hanging(lbl("note", o.lang) + ": " + n, o.width, "", "  ");
  return out;
}

std::string render_brief(const Explanation& e, const RenderOptions& o) {
  Style st{o.colour};
  std::string out;
  std::string reply = (e.code ? std::to_string(e.code) : std::string()) +
                      (e.enhanced_code.empty() ? "" : (e.code ? " " : "") + e.enhanced_code) +
                      (e.text.empty() ? "" : " " + shown(e.text));
  out += wrap_hanging(lbl("reply", o.lang) + ": " + reply, o.width, "", "  ");
  out += wrap_hanging(short_meaning(e.code, e.enhanced_code, e.text, o.lang), o.width, "  ", "    ");
  // The most specific entry says most: the enhanced code unless it is only
  // its subject's catch-all.
  const Entry* m = main_entry(e);
  if (e.enhanced && !e.enhanced->generic && e.enhanced_code.size() >= 2 &&
      e.enhanced_code.compare(e.enhanced_code.size() - 2, 2, ".0") != 0) {
    m = &*e.enhanced;
  }
  if (m != nullptr) {
    out += wrap_hanging(st.heading(lbl("meaning", o.lang)) + ": " + m->meaning, o.width, "  ", "    ");
  }
  if (!e.hints.empty()) {
    for (const auto& h : e.hints) out += wrap_hanging(h.title + ": " + h.advice, o.width, "  ", "    ");
  } else if (m != nullptr) {
    out += wrap_hanging(st.heading(lbl("advice", o.lang)) + ": " + m->fix_sender, o.width, "  ", "    ");
  }
  for (const auto& n : e.notes) out += wrap_hanging(lbl("note", o.lang) + ": " + n, o.width, "  ", "    ");
  return out;
}

std::string render(const Comparison& c, const RenderOptions& o) {
  Style st{o.colour};
  std::string out;
  auto w = o.width;
  std::string title;
  for (const auto& it : c.items) {
    const Entry* m = main_entry(it);
    if (m == nullptr) continue;
    if (!title.empty()) title += " " + lbl("versus", o.lang) + " ";
    title += "SMTP " + m->code + " (" + m->title + ")";
  }
  auto title_lines = wrap(title, w);
  title_lines.pop_back();
  out += st.heading(title_lines) + "\n";
  // Class of each.
  out += "\n" + st.heading(lbl("class", o.lang)) + "\n";
  for (const auto& it : c.items) {
    for (const Entry* en : entries(it)) {
      std::string cls = en->klass.id.empty() ? lbl("registry_form", o.lang) : en->klass.id + " " + en->klass.name;
      out += wrap_hanging(en->code + ": " + cls, w, "  ", "    ");
    }
  }
  out += "\n" + st.heading(lbl("meaning", o.lang)) + "\n";
  for (const auto& it : c.items) {
    for (const Entry* en : entries(it)) {
      out += wrap_hanging(en->code + " (" + en->title + "): " + en->meaning, w, "  ", "    ");
    }
    for (const auto& h : it.hints) out += wrap_hanging(h.title + ": " + h.meaning, w, "    ", "      ");
  }
  out += "\n" + st.heading(lbl("when", o.lang)) + "\n";
  for (const auto& it : c.items) {
    for (const Entry* en : entries(it)) out += wrap_hanging(en->code + ": " + en->when, w, "  ", "    ");
  }
  out += "\n" + st.heading(lbl("fix", o.lang)) + "\n";
  for (const auto& it : c.items) {
    for (const Entry* en : entries(it)) {
      out += wrap_hanging(en->code + " — " + lbl("fix_sender", o.lang) + ": " + en->fix_sender, w, "  ", "    ");
      out += wrap_hanging(en->code + " — " + lbl("fix_admin", o.lang) + ": " + en->fix_admin, w, "  ", "    ");
    }
  }
  out += "\n" + st.heading(lbl("key_difference", o.lang)) + "\n" + wrap_hanging(c.key_difference, w, "  ", "    ");
  out += "\n" + st.heading(lbl("when_to_use", o.lang)) + "\n";
  for (const auto& p : c.when_to_use) out += wrap_hanging(p, w, "  ", "    ");
  for (const auto& it : c.items) {
    for (const auto& n : it.notes) out += wrap_hanging(lbl("note", o.lang) + ": " + n, w, "", "  ");
  }
  return out;
}

std::string to_json(const Explanation& e, Lang lang) {
  std::string out = "{";
  json_kv(out, "lang", lang_name(lang));
  out += "\"explanation\":";
  json_explanation(out, e);
  out += "}\n";
  return out;
}

std::string to_json(const Comparison& c, Lang lang) {
  std::string out = "{";
  json_kv(out, "lang", lang_name(lang));
  out += "\"compare\":[";
  for (std::size_t i = 0; i < c.items.size(); ++i) {
    if (i) out += ',';
    json_explanation(out, c.items[i]);
  }
  out += "],";
  json_kv(out, "key_difference", c.key_difference);
  out += "\"when_to_use\":";
  json_list(out, c.when_to_use);
  out += "}\n";
  return out;
}

}  // namespace postern::explain
