#include "sasl/base64.hpp"

#include <gtest/gtest.h>

namespace postern::sasl {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  struct Case {
    const char* in;
    const char* want;
  } cases[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},          {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& c : cases) {
    EXPECT_EQ(base64_encode(c.in), c.want) << "input " << c.in;
    auto back = base64_decode(c.want);
    ASSERT_TRUE(back) << c.want;
    EXPECT_EQ(*back, c.in);
  }
}

TEST(Base64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 7) {
    std::string in = all.substr(0, n);
    auto out = base64_decode(base64_encode(in));
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, in);
  }
}

TEST(Base64, RejectsBadInput) {
  const char* bad[] = {
      "Zg",         // missing padding
      "Zg=",        // short padding
      "Zm9",        // length not a multiple of 4
      "Z===",       // three pads
      "====",       // only padding
      "Zg==Zg==",   // padding in the middle
      "Zm=v",       // data after padding
      "Zh==",       // non-zero unused bits (canonical form is Zg==)
      "Zm9=",       // non-zero unused bits (canonical form is Zm8=)
      "Zm9v\r\n",   // line break
      " Zm9v",      // leading space
      "Zm9v ",      // trailing space
      "Zm 9v",      // inner space
      "Zm9v-_==",   // URL-safe alphabet
      "Zm9\xff",    // 8-bit byte
      "Zm9\0"       // NUL (length 3 as a C string; see below)
  };
  for (const char* b : bad) EXPECT_FALSE(base64_decode(b)) << "accepted \"" << b << "\"";
  EXPECT_FALSE(base64_decode(std::string_view("Zm9\0", 4)));
  EXPECT_FALSE(base64_decode("*"));
  EXPECT_FALSE(base64_decode("="));
}

}  // namespace
}  // namespace postern::sasl
