// Lookup, reply-line parsing, recognised texts, short meanings and
// comparisons, as table tests over the real embedded data.
#include "explain/explain.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "explain/knowledge.hpp"

namespace postern::explain {
namespace {

TEST(Syntax, BasicCodes) {
  struct Case {
    const char* in;
    bool want;
  } cases[] = {{"250", true}, {"334", true}, {"559", true}, {"199", false}, {"600", false}, {"260", false},
               {"25", false}, {"2500", false}, {"2a0", false}, {"", false}, {" 250", false}};
  for (const auto& c : cases) EXPECT_EQ(is_basic_code(c.in), c.want) << "input \"" << c.in << "\"";
}

TEST(Syntax, EnhancedCodes) {
  struct Case {
    const char* in;
    bool want;
  } cases[] = {{"4.2.0", true},   {"5.7.30", true},   {"2.999.999", true}, {"3.2.0", false}, {"4.2", false},
               {"4.2.0.1", false}, {"4..0", false},   {"4.2.", false},     {"4.1000.0", false},
               {"X.2.0", false},  {"4.2.a", false},   {"", false}};
  for (const auto& c : cases) EXPECT_EQ(is_enhanced_code(c.in), c.want) << "input \"" << c.in << "\"";
}

TEST(Lookup, BasicAndEnhanced) {
  auto e = lookup("450", Lang::en);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "450");
  EXPECT_FALSE(e->enhanced);
  EXPECT_EQ(e->klass.id, "4xx");
  EXPECT_EQ(e->klass.name, "Transient Negative Completion");
  EXPECT_TRUE(e->temporary());

  auto i = lookup(334, Lang::tr);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->klass.name, "Olumlu Ara Yanıt");

  auto x = lookup("4.2.0", Lang::en);
  ASSERT_TRUE(x);
  EXPECT_TRUE(x->enhanced);
  EXPECT_EQ(x->klass.id, "4.X.X");
  EXPECT_EQ(x->klass.name, "Persistent Transient Failure");
  EXPECT_EQ(x->subject.id, "X.2.X");
  EXPECT_EQ(x->subject.name, "Mailbox Status");

  auto reg = lookup("X.2.0", Lang::en);
  ASSERT_TRUE(reg);
  EXPECT_TRUE(reg->klass.id.empty());

  EXPECT_FALSE(lookup("299", Lang::en));
  EXPECT_FALSE(lookup("4.2.99", Lang::en));
  EXPECT_FALSE(lookup("nonsense", Lang::en));
}

TEST(Lang, Parse) {
  EXPECT_EQ(parse_lang("tr"), Lang::tr);
  EXPECT_EQ(parse_lang("tr_TR.UTF-8"), Lang::tr);
  EXPECT_EQ(parse_lang("TR"), Lang::tr);
  EXPECT_EQ(parse_lang("en_GB.UTF-8"), Lang::en);
  EXPECT_EQ(parse_lang("en"), Lang::en);
  EXPECT_FALSE(parse_lang("de_DE"));
  EXPECT_FALSE(parse_lang("trx"));
  EXPECT_FALSE(parse_lang(""));
}

TEST(Lang, FromEnvironment) {
  ::unsetenv("LC_ALL");
  ::unsetenv("LC_MESSAGES");
  ::setenv("LANG", "tr_TR.UTF-8", 1);
  EXPECT_EQ(default_lang(), Lang::tr);
  ::setenv("LANG", "C.UTF-8", 1);
  EXPECT_EQ(default_lang(), Lang::en);
  ::setenv("LC_ALL", "tr_TR", 1);
  EXPECT_EQ(default_lang(), Lang::tr);
  ::unsetenv("LC_ALL");
  ::unsetenv("LANG");
  EXPECT_EQ(default_lang(), Lang::en);
}

TEST(ExplainInput, Forms) {
  std::string err;
  auto a = explain_input("450", Lang::en, &err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->code, 450);
  EXPECT_TRUE(a->basic);
  EXPECT_FALSE(a->enhanced);

  auto b = explain_input("4.2.0", Lang::en, &err);
  ASSERT_TRUE(b) << err;
  EXPECT_EQ(b->code, 0);
  EXPECT_EQ(b->enhanced_code, "4.2.0");
  EXPECT_FALSE(b->basic);

  auto c = explain_input("450 4.2.0 Greylisted, try again in 300 seconds", Lang::en, &err);
  ASSERT_TRUE(c) << err;
  EXPECT_EQ(c->code, 450);
  EXPECT_EQ(c->enhanced_code, "4.2.0");
  EXPECT_EQ(c->text, "Greylisted, try again in 300 seconds");
  ASSERT_TRUE(c->retry_after);
  EXPECT_EQ(c->retry_after->count(), 300);
  ASSERT_FALSE(c->hints.empty());
  EXPECT_EQ(c->hints[0].id, "greylisting");
  EXPECT_NE(c->hints[0].advice.find("300 seconds"), std::string::npos) << c->hints[0].advice;

  auto d = explain_input("450-4.2.0 first line", Lang::en, &err);
  ASSERT_TRUE(d) << err;
  EXPECT_EQ(d->enhanced_code, "4.2.0");

  auto e = explain_input("334 ", Lang::en, &err);  // an empty SASL challenge
  ASSERT_TRUE(e) << err;
  EXPECT_EQ(e->code, 334);
}

TEST(ExplainInput, Errors) {
  struct Case {
    const char* in;
    const char* want;  // part of the error message
  } cases[] = {
      {"999", "not an SMTP reply code"},
      {"299", "not a known"},
      {"199", "not an SMTP reply code"},
      {"4.2.99", "not a known"},
      {"4.2", "not an SMTP reply code"},
      {"hello", "not an SMTP reply code"},
      {"", "empty"},
      {"   ", "empty"},
      {"650 text", "not an SMTP reply code"},
      {"45 text", "not an SMTP reply code"},
  };
  for (const auto& c : cases) {
    std::string err;
    auto r = explain_input(c.in, Lang::en, &err);
    EXPECT_FALSE(r) << "input \"" << c.in << "\"";
    EXPECT_NE(err.find(c.want), std::string::npos) << "input \"" << c.in << "\": got \"" << err << "\"";
  }
  std::string err;
  EXPECT_FALSE(explain_input("999", Lang::tr, &err));
  EXPECT_NE(err.find("değil"), std::string::npos) << err;
}

TEST(ExplainReply, UnregisteredCodesFallBack) {
  auto e = explain_reply(471, "", "Temporary local problem", Lang::en);
  ASSERT_TRUE(e.basic);
  EXPECT_TRUE(e.basic->generic);
  EXPECT_EQ(e.basic->klass.id, "4xx");
  EXPECT_FALSE(e.notes.empty());

  auto f = explain_reply(450, "4.2.77", "odd", Lang::en);
  ASSERT_TRUE(f.enhanced);
  EXPECT_TRUE(f.enhanced->generic);
  EXPECT_EQ(f.enhanced->subject.id, "X.2.X");
}

TEST(ExplainReply, ClassMismatchIsNoted) {
  auto e = explain_reply(450, "2.0.0", "Ok?", Lang::en);
  ASSERT_FALSE(e.notes.empty());
  EXPECT_NE(e.notes[0].find("2.0.0"), std::string::npos);
}

TEST(ExplainReply, EnhancedCodeInsideText) {
  auto e = explain_reply(450, "", "4.2.0 Greylisted", Lang::en);
  EXPECT_EQ(e.enhanced_code, "4.2.0");
  EXPECT_EQ(e.text, "Greylisted");
}

TEST(RetryAfter, Table) {
  struct Case {
    const char* text;
    long long want;  // -1: none
  } cases[] = {
      {"Greylisted, try again in 300 seconds", 300},
      {"greylisted, retry in 5 minutes", 300},
      {"Please retry after 2 min", 120},
      {"Greylisted for 60 seconds", 60},
      {"wait 45s", 45},
      {"try again in about 10 minutes", 600},
      {"try again in 1 hour", 3600},
      {"Mailbox temporarily unavailable, try again later", -1},
      {"Too many messages from 192.0.2.1 in 60 minutes", -1},
      {"Greylisted for 300", -1},
      {"", -1},
  };
  for (const auto& c : cases) {
    auto e = explain_reply(450, "", c.text, Lang::en);
    if (c.want < 0) {
      EXPECT_FALSE(e.retry_after) << "\"" << c.text << "\": got " << e.retry_after->count();
    } else {
      ASSERT_TRUE(e.retry_after) << "\"" << c.text << "\"";
      EXPECT_EQ(e.retry_after->count(), c.want) << "\"" << c.text << "\"";
    }
  }
}

TEST(ShortMeaning, OneLine) {
  auto s = short_meaning(450, "4.2.0", "Greylisted, try again in 300 seconds", Lang::en);
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_NE(s.find("temporary"), std::string::npos) << s;
  EXPECT_NE(s.find("Greylisting"), std::string::npos) << s;
  EXPECT_NE(s.find("300 seconds"), std::string::npos) << s;

  auto t = short_meaning(450, "4.2.0", "Greylisted, try again in 300 seconds", Lang::tr);
  EXPECT_NE(t.find("geçici"), std::string::npos) << t;
  EXPECT_NE(t.find("300 saniye"), std::string::npos) << t;

  EXPECT_FALSE(short_meaning(471, "", "", Lang::en).empty());
  EXPECT_FALSE(short_meaning(0, "5.9.9", "", Lang::en).empty());
  EXPECT_FALSE(short_meaning(0, "", "", Lang::en).empty());
  EXPECT_FALSE(short_meaning(999, "", "garbage", Lang::en).empty());
}

TEST(Compare, ThreeThreeFourVersusFourFifty) {
  std::vector<Explanation> items{*explain_input("334"), *explain_input("450")};
  auto c = compare(items, Lang::en);
  ASSERT_EQ(c.items.size(), 2u);
  EXPECT_NE(c.key_difference.find("3xx Positive Intermediate"), std::string::npos) << c.key_difference;
  EXPECT_NE(c.key_difference.find("4xx Transient Negative"), std::string::npos) << c.key_difference;
  ASSERT_EQ(c.when_to_use.size(), 2u);
  EXPECT_NE(c.when_to_use[0].find("base64"), std::string::npos) << c.when_to_use[0];
  EXPECT_NE(c.when_to_use[1].find("retry"), std::string::npos) << c.when_to_use[1];

  auto tr = compare({*explain_input("334", Lang::tr), *explain_input("450", Lang::tr)}, Lang::tr);
  EXPECT_NE(tr.key_difference.find("Olumlu Ara Yanıt"), std::string::npos) << tr.key_difference;
  EXPECT_NE(tr.key_difference.find("Geçici Olumsuz"), std::string::npos) << tr.key_difference;
}

TEST(Labels, TurkishHeadings) {
  EXPECT_EQ(label("meaning", Lang::tr), "Açıklama");
  EXPECT_EQ(label("when", Lang::tr), "Gördüğünüzde");
  EXPECT_EQ(label("fix", Lang::tr), "Nasıl Düzeltilir");
  EXPECT_EQ(label("key_difference", Lang::tr), "Temel Farklar");
  EXPECT_EQ(label("when_to_use", Lang::tr), "Hangisini Ne Zaman Kullanmalı");
  EXPECT_EQ(label("meaning", Lang::en), "Meaning");
}

// The loader reports broken data instead of accepting it.
TEST(Loader, ReportsProblems) {
  struct Case {
    const char* name;
    const char* toml;
    const char* want;
  } cases[] = {
      {"syntax", "[basic.450\n", "basic.toml:"},
      {"bad code", "[basic.abc]\nrefs=[\"x\"]\n", "not a valid basic code"},
      {"bad enhanced", "[enhanced.\"4.2.0\"]\nrefs=[\"x\"]\n", "not a valid X.S.D"},
      {"missing tr", "[basic.450]\nrefs=[\"x\"]\n[basic.450.en]\ntitle=\"t\"\nmeaning=\"m\"\nwhen=\"w\"\n"
                     "fix_sender=\"s\"\nfix_admin=\"a\"\n", "basic.450.tr: missing language table"},
      {"missing field", "[basic.450]\nrefs=[\"x\"]\n[basic.450.en]\ntitle=\"t\"\n", "missing or empty \"meaning\""},
      {"typo key", "[basic.450]\nrefs=[\"x\"]\nrelatd=[]\n", "unexpected key \"relatd\""},
      {"unknown related", "[basic.450]\nrefs=[\"x\"]\nrelated=[\"499\"]\n", "related code \"499\" is not in the data"},
      {"no refs", "[basic.450]\n", "no \"refs\""},
      {"upper-case match", "[text.x]\nmatch=[\"Greylist\"]\n", "match strings are lower case"},
  };
  for (const auto& c : cases) {
    auto k = detail::parse({{"basic.toml", c.toml}});
    bool found = false;
    for (const auto& p : k.problems) found = found || p.find(c.want) != std::string::npos;
    std::string all;
    for (const auto& p : k.problems) all += "\n  " + p;
    EXPECT_TRUE(found) << c.name << ": want a problem containing \"" << c.want << "\", got:" << all;
  }
  // Duplicates: TOML itself refuses a key defined twice.
  auto dup = detail::parse({{"basic.toml", "[basic.450]\nrefs=[\"x\"]\n[basic.450]\nrefs=[\"y\"]\n"}});
  EXPECT_FALSE(dup.problems.empty());
  // The same code in two files is a duplicate too.
  auto two = detail::parse({{"a.toml", "[basic.450]\nrefs=[\"x\"]\n"}, {"b.toml", "[basic.450]\nrefs=[\"y\"]\n"}});
  bool dup_found = false;
  for (const auto& p : two.problems) dup_found = dup_found || p.find("duplicate code") != std::string::npos;
  EXPECT_TRUE(dup_found);
}

}  // namespace
}  // namespace postern::explain

TEST(Advice, GivesWhenAndFixOfTheMostSpecificCode) {
  using namespace postern::explain;
  const auto a = advice(550, "5.1.1", "No such user");
  EXPECT_EQ(a.meaning, short_meaning(550, "5.1.1", "No such user"));
  EXPECT_EQ(a.when, lookup("5.1.1")->when);
  const auto plain = advice(550, "5.1.1", "");
  EXPECT_EQ(plain.fix, lookup("5.1.1")->fix_sender);
  // Our own reasons carry only an enhanced code.
  const auto ours = advice(0, "4.4.1", "no answer from host");
  EXPECT_EQ(ours.when, lookup("4.4.1")->when);
  EXPECT_FALSE(ours.fix.empty());
  // An unregistered basic code falls back to its class; nothing unknown is ever empty-meaning.
  EXPECT_FALSE(advice(599).meaning.empty());
  EXPECT_EQ(advice(0, "garbage").when, "");
  // A recognised text's advice is the more specific one.
  const auto grey = advice(450, "4.2.0", "Greylisted, try again in 300 seconds");
  EXPECT_NE(grey.fix.find("300 seconds"), std::string::npos) << grey.fix;
}
