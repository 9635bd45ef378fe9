// Parses the embedded knowledge base (data/*.toml) into plain tables and
// checks it: every code well formed and unique, every text present in every
// language, every related code known, every key spelled as expected. The
// problems are collected, not thrown, so a test can list them all at once.
#include "explain/knowledge.hpp"

#include <set>
#include <toml++/toml.h>

namespace postern::explain::data {
const std::vector<std::pair<std::string_view, std::string_view>>& files();
}

namespace postern::explain::detail {
namespace {

constexpr std::array<std::string_view, lang_count> lang_keys{"en", "tr"};

std::string where(std::string_view file, std::string_view key) {
  return std::string(file) + ": " + std::string(key);
}

// Reads a non-empty string; records a problem if it is missing or empty.
std::string need_string(const toml::table& t, std::string_view key, std::string_view ctx,
                        std::vector<std::string>& problems) {
  auto v = t[key].value<std::string>();
  if (!v || v->empty()) {
    problems.push_back(std::string(ctx) + ": missing or empty \"" + std::string(key) + "\"");
    return {};
  }
  return *v;
}

std::vector<std::string> string_list(const toml::table& t, std::string_view key, std::string_view ctx,
                                     std::vector<std::string>& problems) {
  std::vector<std::string> out;
  const auto* arr = t[key].as_array();
  if (arr == nullptr) return out;
  for (const auto& el : *arr) {
    if (auto s = el.value<std::string>()) {
      out.push_back(*s);
    } else {
      problems.push_back(std::string(ctx) + ": \"" + std::string(key) + "\" must hold strings");
    }
  }
  return out;
}

void check_keys(const toml::table& t, std::initializer_list<std::string_view> allowed, std::string_view ctx,
                std::vector<std::string>& problems) {
  for (const auto& [k, v] : t) {
    bool ok = false;
    for (auto a : allowed) ok = ok || k.str() == a;
    if (!ok) problems.push_back(std::string(ctx) + ": unexpected key \"" + std::string(k.str()) + "\"");
  }
}

// Every per-language table of an entry must exist and hold every field.
template <typename Fill>
void per_lang(const toml::table& entry, std::string_view ctx, std::vector<std::string>& problems, Fill fill) {
  for (std::size_t i = 0; i < lang_count; ++i) {
    const auto* lt = entry[lang_keys[i]].as_table();
    std::string lctx = std::string(ctx) + "." + std::string(lang_keys[i]);
    if (lt == nullptr) {
      problems.push_back(lctx + ": missing language table");
      continue;
    }
    fill(i, *lt, lctx);
  }
}

bool is_registry_code(std::string_view s) {
  // "X.S.D": the registry form of an enhanced code, without its class.
  return s.size() >= 5 && s[0] == 'X' && is_enhanced_code("2" + std::string(s.substr(1)));
}

void load_codes(const toml::table& root, std::string_view file, std::string_view section, bool enhanced,
                Knowledge& k) {
  const auto* tbl = root[section].as_table();
  if (tbl == nullptr) return;
  auto& list = enhanced ? k.enhanced : k.basic;
  auto& idx = enhanced ? k.enhanced_index : k.basic_index;
  for (const auto& [key, node] : *tbl) {
    std::string code(key.str());
    std::string ctx = where(file, std::string(section) + "." + code);
    bool ok = enhanced ? is_registry_code(code) : is_basic_code(code);
    if (!ok) {
      k.problems.push_back(ctx + ": not a valid " + (enhanced ? "X.S.D enhanced" : "basic") + " code");
      continue;
    }
    if (idx.count(code) != 0) {
      k.problems.push_back(ctx + ": duplicate code");
      continue;
    }
    const auto* entry = node.as_table();
    if (entry == nullptr) {
      k.problems.push_back(ctx + ": must be a table");
      continue;
    }
    check_keys(*entry, {"en", "tr", "related", "refs"}, ctx, k.problems);
    CodeRecord rec;
    rec.code = code;
    rec.related = string_list(*entry, "related", ctx, k.problems);
    rec.references = string_list(*entry, "refs", ctx, k.problems);
    if (rec.references.empty()) k.problems.push_back(ctx + ": no \"refs\"");
    per_lang(*entry, ctx, k.problems, [&](std::size_t i, const toml::table& lt, const std::string& lctx) {
      check_keys(lt, {"title", "meaning", "when", "fix_sender", "fix_admin"}, lctx, k.problems);
      auto& t = rec.text[i];
      t.title = need_string(lt, "title", lctx, k.problems);
      t.meaning = need_string(lt, "meaning", lctx, k.problems);
      t.when = need_string(lt, "when", lctx, k.problems);
      t.fix_sender = need_string(lt, "fix_sender", lctx, k.problems);
      t.fix_admin = need_string(lt, "fix_admin", lctx, k.problems);
    });
    // An untranslated copy is a data bug too.
    const auto& en = rec.text[0];
    const auto& tr = rec.text[1];
    if (!en.meaning.empty() && (en.meaning == tr.meaning || en.when == tr.when || en.fix_sender == tr.fix_sender ||
                                en.fix_admin == tr.fix_admin)) {
      k.problems.push_back(ctx + ": Turkish text is a copy of the English text");
    }
    idx.emplace(code, list.size());
    list.push_back(std::move(rec));
  }
}

void load_classes(const toml::table& root, std::string_view file, Knowledge& k) {
  const auto* tbl = root["class"].as_table();
  if (tbl == nullptr) return;
  for (const auto& [key, node] : *tbl) {
    std::string id(key.str());
    std::string ctx = where(file, "class." + id);
    const auto* entry = node.as_table();
    if (entry == nullptr) {
      k.problems.push_back(ctx + ": must be a table");
      continue;
    }
    check_keys(*entry, {"en", "tr"}, ctx, k.problems);
    ClassRecord rec;
    rec.id = id;
    per_lang(*entry, ctx, k.problems, [&](std::size_t i, const toml::table& lt, const std::string& lctx) {
      check_keys(lt, {"name", "short", "description", "next_step"}, lctx, k.problems);
      rec.name[i] = need_string(lt, "name", lctx, k.problems);
      rec.short_name[i] = need_string(lt, "short", lctx, k.problems);
      rec.description[i] = need_string(lt, "description", lctx, k.problems);
      rec.next_step[i] = need_string(lt, "next_step", lctx, k.problems);
    });
    k.classes.emplace(id, std::move(rec));
  }
}

void load_subjects(const toml::table& root, std::string_view file, Knowledge& k) {
  const auto* tbl = root["subject"].as_table();
  if (tbl == nullptr) return;
  for (const auto& [key, node] : *tbl) {
    std::string id(key.str());
    std::string ctx = where(file, "subject." + id);
    const auto* entry = node.as_table();
    if (entry == nullptr) {
      k.problems.push_back(ctx + ": must be a table");
      continue;
    }
    check_keys(*entry, {"en", "tr"}, ctx, k.problems);
    SubjectRecord rec;
    rec.id = id;
    per_lang(*entry, ctx, k.problems, [&](std::size_t i, const toml::table& lt, const std::string& lctx) {
      check_keys(lt, {"name", "description"}, lctx, k.problems);
      rec.name[i] = need_string(lt, "name", lctx, k.problems);
      rec.description[i] = need_string(lt, "description", lctx, k.problems);
    });
    k.subjects.emplace(id, std::move(rec));
  }
}

void load_texts(const toml::table& root, std::string_view file, Knowledge& k) {
  const auto* tbl = root["text"].as_table();
  if (tbl == nullptr) return;
  for (const auto& [key, node] : *tbl) {
    std::string id(key.str());
    std::string ctx = where(file, "text." + id);
    const auto* entry = node.as_table();
    if (entry == nullptr) {
      k.problems.push_back(ctx + ": must be a table");
      continue;
    }
    check_keys(*entry, {"match", "en", "tr"}, ctx, k.problems);
    TextRecord rec;
    rec.id = id;
    rec.match = string_list(*entry, "match", ctx, k.problems);
    if (rec.match.empty()) k.problems.push_back(ctx + ": no \"match\" strings");
    for (const auto& m : rec.match) {
      for (char c : m) {
        if (c >= 'A' && c <= 'Z') {
          k.problems.push_back(ctx + ": match strings are lower case: \"" + m + "\"");
          break;
        }
      }
    }
    per_lang(*entry, ctx, k.problems, [&](std::size_t i, const toml::table& lt, const std::string& lctx) {
      check_keys(lt, {"title", "meaning", "advice"}, lctx, k.problems);
      rec.title[i] = need_string(lt, "title", lctx, k.problems);
      rec.meaning[i] = need_string(lt, "meaning", lctx, k.problems);
      rec.advice[i] = need_string(lt, "advice", lctx, k.problems);
    });
    k.texts.push_back(std::move(rec));
  }
}

// Findings of `postern probe`: a severity and per-language title, meaning, advice.
void load_findings(const toml::table& root, std::string_view file, Knowledge& k) {
  const auto* tbl = root["finding"].as_table();
  if (tbl == nullptr) return;
  for (const auto& [key, node] : *tbl) {
    std::string id(key.str());
    std::string ctx = where(file, "finding." + id);
    const auto* entry = node.as_table();
    if (entry == nullptr) {
      k.problems.push_back(ctx + ": must be a table");
      continue;
    }
    check_keys(*entry, {"severity", "en", "tr"}, ctx, k.problems);
    FindingRecord rec;
    rec.id = id;
    rec.severity = need_string(*entry, "severity", ctx, k.problems);
    if (rec.severity != "info" && rec.severity != "warning" && rec.severity != "critical") {
      k.problems.push_back(ctx + ": severity is info, warning or critical");
    }
    per_lang(*entry, ctx, k.problems, [&](std::size_t i, const toml::table& lt, const std::string& lctx) {
      check_keys(lt, {"title", "meaning", "advice"}, lctx, k.problems);
      rec.title[i] = need_string(lt, "title", lctx, k.problems);
      rec.meaning[i] = need_string(lt, "meaning", lctx, k.problems);
      rec.advice[i] = need_string(lt, "advice", lctx, k.problems);
    });
    k.findings.emplace(id, std::move(rec));
  }
}

void load_labels(const toml::table& root, Knowledge& k) {
  const auto* tbl = root["labels"].as_table();
  if (tbl == nullptr) return;
  for (std::size_t i = 0; i < lang_count; ++i) {
    const auto* lt = (*tbl)[lang_keys[i]].as_table();
    if (lt == nullptr) continue;
    for (const auto& [key, node] : *lt) {
      if (auto s = node.value<std::string>()) k.labels[i].emplace(std::string(key.str()), *s);
    }
  }
}

bool known_code(const Knowledge& k, const std::string& code) {
  if (is_basic_code(code)) return k.basic_index.count(code) != 0;
  if (is_registry_code(code)) return k.enhanced_index.count(code) != 0;
  if (is_enhanced_code(code)) return k.enhanced_index.count("X" + code.substr(1)) != 0;
  return false;
}

void cross_check(Knowledge& k) {
  for (auto* list : {&k.basic, &k.enhanced}) {
    for (const auto& rec : *list) {
      for (const auto& r : rec.related) {
        if (!known_code(k, r)) k.problems.push_back(rec.code + ": related code \"" + r + "\" is not in the data");
        if (r == rec.code) k.problems.push_back(rec.code + ": related to itself");
      }
    }
  }
  for (const auto& rec : k.basic) {
    std::string cls = rec.code.substr(0, 1) + "xx";
    if (k.classes.count(cls) == 0) k.problems.push_back(rec.code + ": class " + cls + " is not in the data");
  }
  for (const auto& rec : k.enhanced) {
    std::string subj = rec.code.substr(0, rec.code.rfind('.')) + ".X";
    if (k.subjects.count(subj) == 0) k.problems.push_back(rec.code + ": subject " + subj + " is not in the data");
  }
  for (const char* c : {"2.X.X", "4.X.X", "5.X.X"}) {
    if (k.classes.count(c) == 0) k.problems.push_back(std::string("class ") + c + " is not in the data");
  }
  // Every label present in every language.
  for (const auto& [key, value] : k.labels[0]) {
    for (std::size_t i = 1; i < lang_count; ++i) {
      if (k.labels[i].count(key) == 0) {
        k.problems.push_back("labels." + std::string(lang_keys[i]) + ": missing \"" + key + "\"");
      }
    }
  }
  for (std::size_t i = 1; i < lang_count; ++i) {
    for (const auto& [key, value] : k.labels[i]) {
      if (k.labels[0].count(key) == 0) k.problems.push_back("labels.en: missing \"" + key + "\"");
    }
  }
}

}  // namespace

Knowledge parse(const std::vector<std::pair<std::string_view, std::string_view>>& files) {
  Knowledge k;
  for (const auto& [name, contents] : files) {
    toml::table root;
    try {
      root = toml::parse(contents, name);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      k.problems.push_back(std::string(name) + ":" + std::to_string(where.line) + ": " +
                           std::string(e.description()));
      continue;
    }
    check_keys(root, {"basic", "enhanced", "class", "subject", "text", "finding", "labels"}, name, k.problems);
    load_codes(root, name, "basic", false, k);
    load_codes(root, name, "enhanced", true, k);
    load_classes(root, name, k);
    load_subjects(root, name, k);
    load_texts(root, name, k);
    load_findings(root, name, k);
    load_labels(root, k);
  }
  cross_check(k);
  return k;
}

const Knowledge& knowledge() {
  static const Knowledge k = parse(data::files());
  return k;
}

}  // namespace postern::explain::detail
