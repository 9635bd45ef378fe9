// The knowledge base itself: sound (no loader problems), complete in both
// languages, and covering every basic code we list and every enhanced code
// of the IANA registry (fixtures in data/, so these tests can fail).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "explain/explain.hpp"

namespace postern::explain {
namespace {

std::string data_dir() {
  const char* d = std::getenv("POSTERN_TEST_DATA");
  return d != nullptr ? d : "data";
}

// Reads the first column of a fixture file (tab separated, # comments).
std::vector<std::string> fixture(const std::string& name) {
  std::ifstream in(data_dir() + "/" + name);
  EXPECT_TRUE(in.good()) << "cannot open fixture " << data_dir() << "/" << name;
  std::vector<std::string> codes;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    codes.push_back(line.substr(0, line.find('\t')));
  }
  return codes;
}

bool has_turkish_letter(const std::string& s) {
  for (const char* l : {"ç", "ğ", "ı", "İ", "ö", "ş", "ü", "Ç", "Ğ", "Ö", "Ş", "Ü"}) {
    if (s.find(l) != std::string::npos) return true;
  }
  return false;
}

TEST(Data, LoadsWithoutProblems) {
  std::string all;
  for (const auto& p : data_problems()) all += "\n  " + p;
  EXPECT_TRUE(data_problems().empty()) << data_problems().size() << " problems:" << all;
}

TEST(Data, EveryIanaEnhancedCodeIsPresent) {
  auto registry = fixture("iana_enhanced.txt");
  EXPECT_GE(registry.size(), 81u);
  for (const auto& code : registry) {
    for (Lang lang : {Lang::en, Lang::tr}) {
      EXPECT_TRUE(lookup(code, lang)) << code << " is in the IANA registry but not in the knowledge base";
    }
    // And under each class it can carry.
    for (char cls : {'2', '4', '5'}) {
      std::string c = cls + code.substr(1);
      auto e = lookup(c, Lang::en);
      ASSERT_TRUE(e) << c;
      EXPECT_FALSE(e->klass.name.empty()) << c;
      EXPECT_FALSE(e->subject.name.empty()) << c;
    }
  }
}

TEST(Data, EveryListedBasicCodeIsPresent) {
  for (const auto& code : fixture("basic_codes.txt")) {
    EXPECT_TRUE(lookup(code, Lang::en)) << code << " is missing";
  }
}

TEST(Data, NoCodeOutsideTheFixtures) {
  // A code in the data but in neither fixture is either a typo or a code
  // whose source should be recorded in a fixture.
  auto registry = fixture("iana_enhanced.txt");
  auto basic = fixture("basic_codes.txt");
  std::set<std::string> known(registry.begin(), registry.end());
  known.insert(basic.begin(), basic.end());
  for (const auto& code : all_codes()) EXPECT_TRUE(known.count(code)) << code << " is in no fixture";
}

TEST(Data, NoDuplicates) {
  auto codes = all_codes();
  std::set<std::string> seen;
  for (const auto& c : codes) EXPECT_TRUE(seen.insert(c).second) << "duplicate " << c;
}

TEST(Data, EveryCodeHasEveryFieldInBothLanguages) {
  for (const auto& code : all_codes()) {
    std::optional<Entry> en = lookup(code, Lang::en);
    std::optional<Entry> tr = lookup(code, Lang::tr);
    ASSERT_TRUE(en && tr) << code;
    for (const Entry* e : {&*en, &*tr}) {
      EXPECT_FALSE(e->title.empty()) << code;
      EXPECT_FALSE(e->meaning.empty()) << code;
      EXPECT_FALSE(e->when.empty()) << code;
      EXPECT_FALSE(e->fix_sender.empty()) << code;
      EXPECT_FALSE(e->fix_admin.empty()) << code;
      EXPECT_FALSE(e->references.empty()) << code;
      if (!e->enhanced) {
        EXPECT_FALSE(e->klass.name.empty()) << code;
        EXPECT_FALSE(e->klass.description.empty()) << code;
      }
    }
    EXPECT_NE(en->meaning, tr->meaning) << code << ": Turkish meaning is not translated";
    EXPECT_NE(en->when, tr->when) << code;
    // Proper Turkish: the Turkish texts of an entry use Turkish letters.
    std::string tr_text = tr->meaning + " " + tr->when + " " + tr->fix_sender + " " + tr->fix_admin;
    EXPECT_TRUE(has_turkish_letter(tr_text)) << code << ": no Turkish letter in \"" << tr_text << "\"";
    EXPECT_FALSE(has_turkish_letter(en->meaning + en->when)) << code << ": Turkish letters in the English text";
    EXPECT_EQ(en->related, tr->related) << code;
  }
}

TEST(Data, ClassNamesAsTheStandardsGiveThem) {
  struct Case {
    const char* code;
    const char* en;
    const char* tr;
  } cases[] = {
      {"250", "Positive Completion", "Olumlu Tamamlanma"},
      {"334", "Positive Intermediate", "Olumlu Ara Yanıt"},
      {"450", "Transient Negative Completion", "Geçici Olumsuz Tamamlanma"},
      {"550", "Permanent Negative Completion", "Kalıcı Olumsuz Tamamlanma"},
      {"2.0.0", "Success", "Başarılı"},
      {"4.2.0", "Persistent Transient Failure", "Süregelen Geçici Hata"},
      {"5.7.8", "Permanent Failure", "Kalıcı Hata"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(lookup(c.code, Lang::en)->klass.name, c.en) << c.code;
    EXPECT_EQ(lookup(c.code, Lang::tr)->klass.name, c.tr) << c.code;
  }
}

TEST(Data, EveryRecognisedTextIsReachable) {
  // One real-world reply per recognised text; each must be recognised.
  struct Case {
    const char* reply;
    const char* want;
  } cases[] = {
      {"450 4.2.0 Greylisted, try again in 300 seconds", "greylisting"},
      {"452 4.2.2 Mailbox full", "mailbox_full"},
      {"450 4.2.1 Mailbox temporarily unavailable, try again later", "mailbox_locked"},
      {"550 5.2.1 Mailbox disabled", "mailbox_disabled"},
      {"550 5.1.1 No such user", "user_unknown"},
      {"554 5.7.1 Relay access denied", "relay_denied"},
      {"535 5.7.8 Authentication credentials invalid", "auth_failed"},
      {"530 5.7.0 Authentication required", "auth_required"},
      {"501 5.7.0 Authentication cancelled", "auth_cancelled"},
      {"501 5.5.2 Cannot decode response", "cannot_decode"},
      {"538 5.7.11 Encryption required for requested authentication mechanism", "tls_required"},
      {"450 4.7.1 Too many messages, try again later", "rate_limit"},
      {"452 4.5.3 Too many recipients", "too_many_recipients"},
      {"552 5.3.4 Message too big", "message_too_big"},
      {"500 5.5.2 Line too long", "line_too_long"},
      {"550 5.6.0 Bare CR or LF not allowed", "bare_line_ending"},
      {"550 5.6.0 NUL characters not allowed", "nul_in_message"},
      {"554 5.5.0 Error: SMTP protocol synchronization", "protocol_synchronization"},
      {"554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org", "blocklist"},
      {"550 5.7.1 Message rejected as spam", "spam"},
      {"550 5.7.23 SPF validation failed", "spf"},
      {"550 5.7.20 No passing DKIM signature found", "dkim"},
      {"550 5.7.26 Unauthenticated email is not accepted due to the domain's DMARC policy", "dmarc"},
      {"550 5.7.25 The IP address sending this message does not have a PTR record", "reverse_dns"},
      {"421 4.7.0 Too many errors, closing connection", "too_many_errors"},
      {"421 4.4.2 Connection timed out", "timeout"},
      {"421 4.3.2 Server shutting down", "shutting_down"},
      {"535 5.7.8 the server refused the OAuth token for a@example.org (status invalid_token)", "oauth_token_refused"},
  };
  std::set<std::string> covered;
  for (const auto& c : cases) {
    auto e = explain_input(c.reply, Lang::en);
    ASSERT_TRUE(e) << c.reply;
    bool found = false;
    for (const auto& h : e->hints) found = found || h.id == c.want;
    EXPECT_TRUE(found) << c.reply << ": want " << c.want;
    covered.insert(c.want);
    // Both languages give the same hints.
    auto t = explain_input(c.reply, Lang::tr);
    ASSERT_EQ(t->hints.size(), e->hints.size()) << c.reply;
  }
  // A new text in texts.toml needs a case here.
  auto all = explain_input("250 ok", Lang::en);  // forces loading
  (void)all;
  EXPECT_EQ(covered.size(), 28u);
}

TEST(Data, PlainRepliesAreNotMisrecognised) {
  for (const char* reply : {"250 2.0.0 Ok", "250 2.1.5 Ok", "221 2.0.0 Bye", "354 End data with <CR><LF>.<CR><LF>",
                            "235 2.7.0 Authentication successful", "220 mx.example.org ESMTP Postern",
                            "220 mx.example.org ESMTP, unsolicited mail or spam not welcome",
                            "334 spamc3BmZGtpbQ==", "250 2.0.0 Ok: queued, try again in 5 minutes"}) {
    auto e = explain_input(reply, Lang::en);
    ASSERT_TRUE(e) << reply;
    EXPECT_TRUE(e->hints.empty()) << reply << ": recognised " << e->hints[0].id;
    EXPECT_FALSE(e->retry_after) << reply;
  }
}

}  // namespace
}  // namespace postern::explain

// `postern probe` findings (findings.toml): every id the probe emits, in both languages.
TEST(Data, EveryProbeFindingInBothLanguages) {
  using postern::explain::Lang;
  for (const char* id : {"auth_before_tls", "no_starttls", "starttls_failed", "tls_below_1_2",
                         "certificate_not_verified", "certificate_expires_soon", "starttls_injection",
                         "no_enhancedstatuscodes", "greylisting", "mta_sts_policy_invalid", "mta_sts_testing",
                         "no_tlsrpt", "spf_missing", "dmarc_missing", "dmarc_none", "dane_mismatch", "dialogue_failed"}) {
    auto en = postern::explain::finding(id, Lang::en);
    auto tr = postern::explain::finding(id, Lang::tr);
    ASSERT_TRUE(en && tr) << id;
    EXPECT_NE(en->meaning, tr->meaning) << id;
    EXPECT_EQ(en->severity, tr->severity) << id;
  }
  EXPECT_EQ(postern::explain::all_findings().size(), 17u);
  EXPECT_FALSE(postern::explain::finding("no_such_finding"));
}
