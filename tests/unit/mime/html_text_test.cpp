#include "mime/html_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern::mime {
namespace {

TEST(HtmlText, ParagraphsHeadingsAndLinksAsMailpitShowsThem) {
  EXPECT_EQ(html_to_text("<h1>Reset your password</h1><p>Click <a href=\"https://x.test/r?t=abc\">here</a>.</p>"
                         "<p>Or see <a href=\"https://x.test/\">https://x.test/</a></p>"),
            "Reset your password\n\nClick here ( https://x.test/r?t=abc ).\n\nOr see https://x.test/");
}

TEST(HtmlText, LeavesOutHeadScriptsAndStylesAndDecodesEntities) {
  EXPECT_EQ(html_to_text("<html><head><title>T</title><style>p{color:red}</style></head><body>"
                         "<script>alert(1)</script>Fish &amp; chips &lt;3 &#x263A;</body></html>"),
            "Fish & chips <3 \xe2\x98\xba");
}

TEST(HtmlText, WhitespaceCollapsesOutsidePreAndBreaksAreLines) {
  EXPECT_EQ(html_to_text("  one\n\n   two<br>three<pre>a\n  b</pre><ul><li>x</li><li>y</li></ul>"),
            "one two\nthree\n\na\n  b\n\n* x\n* y");
}

TEST(HtmlText, BrokenOrEmptyInputGivesWhatCanBeRead) {
  EXPECT_EQ(html_to_text(""), "");
  EXPECT_EQ(html_to_text("<p><b>unclosed <i>tags"), "unclosed tags");
  EXPECT_TRUE(html_to_text("<<<>>>").ends_with(">>>"));  // libxml2 recovers what it can
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "<div>";
  deep += "deep";
  EXPECT_NO_THROW(html_to_text(deep));
}

}  // namespace
}  // namespace postern::mime
