// Internal to explain/: the embedded TOML data parsed into plain tables.
// toml++ is used only in knowledge.cpp. The data is parsed once (function
// local static) and never changes afterwards.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "explain/explain.hpp"

namespace postern::explain::detail {

constexpr std::size_t lang_count = 2;
inline std::size_t index(Lang lang) { return lang == Lang::tr ? 1 : 0; }

template <typename T>
using PerLang = std::array<T, lang_count>;

struct CodeText {
  std::string title, meaning, when, fix_sender, fix_admin;
};

struct CodeRecord {
  std::string code;  // "450" or "X.2.0"
  PerLang<CodeText> text;
  std::vector<std::string> related;
  std::vector<std::string> references;
};

struct ClassRecord {
  std::string id;  // "4xx" or "4.X.X"
  PerLang<std::string> name, description, next_step, short_name;
};

struct SubjectRecord {
  std::string id;  // "X.2.X"
  PerLang<std::string> name, description;
};

struct TextRecord {
  std::string id;
  std::vector<std::string> match;  // lower-case ASCII substrings, any of them
  PerLang<std::string> title, meaning, advice;
};

struct FindingRecord {
  std::string id;
  std::string severity;  // info | warning | critical
  PerLang<std::string> title, meaning, advice;
};

struct Knowledge {
  std::vector<CodeRecord> basic;
  std::vector<CodeRecord> enhanced;
  std::map<std::string, std::size_t, std::less<>> basic_index, enhanced_index;
  std::map<std::string, ClassRecord, std::less<>> classes;    // "4xx", "4.X.X"
  std::map<std::string, SubjectRecord, std::less<>> subjects;  // "X.2.X"
  std::vector<TextRecord> texts;
  std::map<std::string, FindingRecord, std::less<>> findings;
  PerLang<std::map<std::string, std::string, std::less<>>> labels;
  std::vector<std::string> problems;
};

// The parsed embedded data.
const Knowledge& knowledge();

// Parses data files given as (name, contents); exposed so tests can feed
// broken data and see the problems reported.
Knowledge parse(const std::vector<std::pair<std::string_view, std::string_view>>& files);

}  // namespace postern::explain::detail
