// Text rendering: wrapping by code points, no colour unless asked, JSON escaping.
#include "explain/render.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

namespace postern::explain {
namespace {

std::size_t columns(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void expect_fits(const std::string& text, std::size_t width) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) EXPECT_LE(columns(line), width) << "line: \"" << line << "\"";
}

TEST(Wrap, FitsAndKeepsWords) {
  std::string text = "Sunucu bu gönderen, alıcı ve istemci adresi üçlüsünü henüz tanımıyor ve ilk denemeyi "
                     "bilerek reddediyor; gerçek bir posta sunucusu yeniden dener.";
  for (std::size_t w : {40u, 60u, 80u}) {
    auto out = wrap(text, w, "    ");
    expect_fits(out, w);
    // Rejoining the lines gives back the words.
    std::istringstream in(out);
    std::string word, joined;
    while (in >> word) joined += (joined.empty() ? "" : " ") + word;
    EXPECT_EQ(joined, text);
  }
}

TEST(Wrap, CutsOverlongWords) {
  std::string url(200, 'a');
  auto out = wrap("see " + url + " now", 80, "  ");
  expect_fits(out, 80);
  EXPECT_NE(out.find("now"), std::string::npos);
}

// Found by fuzz_explain_reply: a word that fitted the first line's width
// but not the (more indented) next one was moved there uncut.
TEST(Wrap, LongWordMovedToAnIndentedLineIsCutThere) {
  auto out = wrap_hanging("Reply: 450 " + std::string(59, 'x'), 60, "", "  ");
  expect_fits(out, 60);
  EXPECT_EQ(out, "Reply: 450\n  " + std::string(58, 'x') + "\n  x\n");
}

// Found by fuzz_explain_reply: an entry's heading (code and title) was not
// wrapped, and 555's title is longer than 60 columns.
TEST(Render, LongTitlesFitNarrowTerminals) {
  for (Lang lang : {Lang::en, Lang::tr}) {
    auto e = explain_input("555", lang);
    ASSERT_TRUE(e);
    expect_fits(render(*e, RenderOptions{lang, 60, false}), 60);
  }
}

TEST(Wrap, KeepsParagraphs) {
  auto out = wrap("one\ntwo", 80, "  ");
  EXPECT_EQ(out, "  one\n  two\n");
}

TEST(Render, EveryFormFitsEightyColumnsWithoutColour) {
  for (Lang lang : {Lang::en, Lang::tr}) {
    RenderOptions o{lang, 80, false};
    for (const char* in : {"450", "334", "4.2.0", "X.2.0", "450 4.2.0 Greylisted, try again in 300 seconds"}) {
      auto e = explain_input(in, lang);
      ASSERT_TRUE(e) << in;
      auto text = render(*e, o);
      expect_fits(text, 80);
      EXPECT_EQ(text.find('\x1b'), std::string::npos) << in;
    }
    auto c = compare({*explain_input("334", lang), *explain_input("450", lang)}, lang);
    auto text = render(c, o);
    expect_fits(text, 80);
    EXPECT_EQ(text.find('\x1b'), std::string::npos);
    auto three = compare({*explain_input("334", lang), *explain_input("4.2.0", lang), *explain_input("450", lang)}, lang);
    expect_fits(render(three, o), 80);
  }
}

TEST(Render, ColourWhenAsked) {
  RenderOptions o{Lang::en, 80, true};
  auto text = render(*explain_input("450"), o);
  EXPECT_NE(text.find("\x1b[1;33m450"), std::string::npos);
}

TEST(Render, TurkishHeadings) {
  RenderOptions o{Lang::tr, 80, false};
  auto c = compare({*explain_input("334", Lang::tr), *explain_input("450", Lang::tr)}, Lang::tr);
  auto text = render(c, o);
  for (const char* h : {"Açıklama", "Gördüğünüzde", "Nasıl Düzeltilir", "Temel Farklar", "Hangisini Ne Zaman Kullanmalı"}) {
    EXPECT_NE(text.find(h), std::string::npos) << h;
  }
}

TEST(Json, EscapesReplyText) {
  auto e = explain_reply(450, "4.2.0", "quote \" backslash \\ ctl \x01 tab\t end", Lang::en);
  auto j = to_json(e, Lang::en);
  EXPECT_NE(j.find(R"(quote \" backslash \\ ctl \u0001 tab\t end)"), std::string::npos) << j;
  EXPECT_EQ(j.back(), '\n');
}

}  // namespace
}  // namespace postern::explain

namespace postern::explain {
namespace {

TEST(Wrap, HangingIndent) {
  auto out = wrap_hanging("Sender: one two three four five six seven eight nine ten", 24, "  ", "      ");
  EXPECT_EQ(out, "  Sender: one two three\n      four five six\n      seven eight nine\n      ten\n");
  // Each paragraph hangs on its own.
  EXPECT_EQ(wrap_hanging("a b\nc d", 80, "- ", "  "), "- a b\n- c d\n");
}

}  // namespace
}  // namespace postern::explain

namespace postern::explain {
namespace {

TEST(Brief, FailureBlock) {
  for (Lang lang : {Lang::en, Lang::tr}) {
    RenderOptions o{lang, 80, false};
    auto e = explain_reply(450, "4.2.0", "Greylisted, try again in 300 seconds", lang);
    auto text = render_brief(e, o);
    expect_fits(text, 80);
    EXPECT_NE(text.find("450 4.2.0 Greylisted, try again in 300 seconds"), std::string::npos) << text;
    EXPECT_NE(text.find(lang == Lang::en ? "300 seconds" : "300 saniye"), std::string::npos) << text;
    EXPECT_NE(text.find(lang == Lang::en ? "Greylisting" : "Gri liste"), std::string::npos) << text;
    std::size_t lines = std::count(text.begin(), text.end(), '\n');
    EXPECT_LE(lines, 12u) << text;
  }
  // Without a recognised text, the sender's fix of the most specific code.
  auto e = explain_reply(550, "5.1.1", "", Lang::en);
  auto text = render_brief(e, RenderOptions{Lang::en, 80, false});
  EXPECT_NE(text.find("does not exist"), std::string::npos) << text;
  EXPECT_NE(text.find("What to do: Check the spelling"), std::string::npos) << text;
}

}  // namespace
}  // namespace postern::explain
