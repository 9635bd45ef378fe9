// The reply-code knowledge base (SPEC §7): every basic reply code of RFC 5321
// and its extensions and every enhanced status code of the IANA "SMTP
// Enhanced Status Codes" registry (RFC 3463, 5248 and later), each with its
// class, meaning, when it is seen, how to fix it and related codes, in
// English and Turkish. The texts live in src/explain/data/*.toml and are
// compiled into the binary; this module only reads them.
//
// Callers: `postern explain` (render.hpp), `postern send` failure output,
// the queue (deferred recipients, DSN text), server logs (short_meaning).
// Thread-safe: the data is parsed once, on first use, and then read-only.
// Nothing here throws for bad input: unknown or malformed codes give nullopt
// (or an Explanation whose fields are empty) and an error text.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::explain {

enum class Lang { en, tr };

// "en", "tr", and locale names such as "tr_TR.UTF-8" or "en_US"; nullopt otherwise.
std::optional<Lang> parse_lang(std::string_view name);
// The language of the environment: LC_ALL, then LC_MESSAGES, then LANG;
// tr_* (or "tr") gives Turkish, everything else English.
Lang default_lang();
std::string_view lang_name(Lang lang);  // "en" | "tr"

// A reply class: "2xx".."5xx" for basic codes, "2.X.X", "4.X.X", "5.X.X"
// for enhanced codes.
struct Class {
  std::string id;           // "4xx" / "4.X.X"
  std::string name;         // "Transient Negative Completion" / "Persistent Transient Failure"
  std::string description;  // what the class means
  std::string next_step;    // what a client does on receiving it
};

// An enhanced code's subject ("X.2.X Mailbox Status").
struct Subject {
  std::string id;    // "X.2.X"
  std::string name;  // "Mailbox Status"
  std::string description;
};

// One code in one language. Every text field is non-empty for a known code.
struct Entry {
  std::string code;      // "450" or "4.2.0" (as looked up, class digit included)
  bool enhanced = false;
  Class klass;
  Subject subject;       // enhanced codes only
  std::string title;     // a few words: "Mailbox unavailable"
  std::string meaning;   // what it means
  std::string when;      // which command, which situation
  std::string fix_sender;
  std::string fix_admin;
  std::vector<std::string> related;     // other codes, as "535" or "X.7.8"
  std::vector<std::string> references;  // "RFC 4954 §4"
  bool generic = false;  // a fallback: the code itself is not registered,
                         // this is its class (basic) or subject (enhanced)

  int class_digit() const { return code.empty() ? 0 : code[0] - '0'; }
  bool temporary() const { return class_digit() == 4; }
  bool permanent() const { return class_digit() == 5; }
};

// Looks up "450", "4.2.0" or "X.2.0" (the registry form, explained as the
// subject/detail without a class). Only registered codes: nullopt otherwise.
std::optional<Entry> lookup(std::string_view code, Lang lang = Lang::en);
std::optional<Entry> lookup(int basic_code, Lang lang = Lang::en);

// Syntax only: "NNN" with 2..5, 0..5, 0..9 (RFC 5321 §4.2); "C.S.D" with
// C in {2,4,5}, S and D of 1..3 digits (RFC 3463 §2).
bool is_basic_code(std::string_view s);
bool is_enhanced_code(std::string_view s);

// A common reply text recognised in the free text of a reply.
struct Hint {
  std::string id;       // "greylisting", "mailbox_full", "relay_denied", ...
  std::string title;
  std::string meaning;
  std::string advice;   // "{wait}" already replaced when a delay was found
};

// Everything known about one reply.
struct Explanation {
  int code = 0;                     // 0 when the input held only an enhanced code
  std::string enhanced_code;        // "" when absent
  std::string text;                 // the reply text after the codes
  std::optional<Entry> basic;       // may be generic (class only) for an unregistered code
  std::optional<Entry> enhanced;    // may be generic (subject only) for an unregistered detail
  std::vector<Hint> hints;          // recognised texts, most specific first
  std::optional<std::chrono::seconds> retry_after;  // "try again in 300 seconds"
  std::vector<std::string> notes;   // e.g. the enhanced class does not match the basic code
};

// Explains a reply given as parts (what smtp::Reply holds: code, enhanced, text()).
Explanation explain_reply(int code, std::string_view enhanced, std::string_view text, Lang lang = Lang::en);

// Explains one argument as a user types it: "450", "4.2.0", or a whole reply
// line "450 4.2.0 Greylisted, try again in 300 seconds" ("450-..." too).
// nullopt with *error set when the code is malformed or unknown.
std::optional<Explanation> explain_input(std::string_view input, Lang lang = Lang::en, std::string* error = nullptr);

// One line for logs, the queue and failure messages, e.g.
// "temporary failure, retry later: greylisted (retry in 300 s)".
// Never empty; works for any code, registered or not.
std::string short_meaning(int code, std::string_view enhanced = {}, std::string_view text = {}, Lang lang = Lang::en);

// What a sender is told beside a failed reply (`postern send`, DSNs):
// short_meaning(), and the knowledge base's "When you see it" and "How to
// fix it" for the most specific registered code (the enhanced code unless
// it is only its subject's fallback), a recognised text's advice first.
// code 0 explains the enhanced code alone (our own reasons: "4.4.1").
struct Advice {
  std::string meaning;
  std::string when;  // may be empty for an unknown code
  std::string fix;   // may be empty for an unknown code
};
Advice advice(int code, std::string_view enhanced = {}, std::string_view text = {}, Lang lang = Lang::en);

// Side-by-side comparison of two or more replies (SPEC §7, `explain 334 450`).
struct Comparison {
  std::vector<Explanation> items;  // in argument order
  std::string key_difference;      // "334 is a 3xx Positive Intermediate reply, while 450 ..."
  std::vector<std::string> when_to_use;  // one paragraph per item
};
Comparison compare(const std::vector<Explanation>& items, Lang lang = Lang::en);

// Section headings and fixed words of the rendered output, per language
// ("Meaning" / "Açıklama", "When you see it" / "Gördüğünüzde", ...).
std::string_view label(std::string_view key, Lang lang);

// A finding of `postern probe` (data/findings.toml), e.g. "auth_before_tls".
struct FindingText {
  std::string id;
  std::string severity;  // "info" | "warning" | "critical"
  std::string title;
  std::string meaning;
  std::string advice;
};
std::optional<FindingText> finding(std::string_view id, Lang lang = Lang::en);
std::vector<std::string> all_findings();

// Every registered code, for tests and listings: basic codes ("450") and
// enhanced codes in registry form ("X.2.0"), in data order.
std::vector<std::string> all_codes();

// Problems found while loading the embedded data (missing fields, bad codes,
// unknown related codes); empty when the data is sound. For tests.
const std::vector<std::string>& data_problems();

}  // namespace postern::explain
