#include "util/strings.hpp"

#include <gtest/gtest.h>

namespace postern::util {
namespace {

TEST(Printable, EscapesWhatATerminalWouldObey) {
  // The reply of a hostile next hop: an OSC title change and SGR colours.
  EXPECT_EQ(printable("550 5.1.1 no \x1b]0;pwned\x07\x1b[31mRED\x1b[0m user", 200),
            "550 5.1.1 no \\x1b]0;pwned\\x07\\x1b[31mRED\\x1b[0m user");
  EXPECT_EQ(printable(std::string("a\0b\r\n\t\x7f", 7)), "a\\x00b\\x0d\\x0a\\x09\\x7f");
  EXPECT_EQ(printable("back\\slash"), "back\\x5cslash");
}

TEST(Printable, KeepsWellFormedUtf8AndEscapesTheRest) {
  EXPECT_EQ(printable("ünïcödé çağrı"), "ünïcödé çağrı");
  EXPECT_EQ(printable("\xea\xea"), "\\xea\\xea");          // truncated sequences
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");          // overlong "/"
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(printable("\xc2\x9b" "31m"), "\\xc2\\x9b31m");  // C1 CSI
  EXPECT_EQ(printable("\xe2\x80\xae" "abc"), "\\xe2\\x80\\xaeabc");  // right-to-left override
}

TEST(Printable, CutsAtTheLimit) {
  EXPECT_EQ(printable(std::string(10, 'x'), 4), "xxxx...");
  EXPECT_EQ(printable("\x01\x02", 4), "\\x01...");
}

}  // namespace
}  // namespace postern::util
