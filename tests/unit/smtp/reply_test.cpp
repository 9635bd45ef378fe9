#include "smtp/reply.hpp"

#include <gtest/gtest.h>

namespace postern::smtp {
namespace {

std::optional<Reply> parse(std::initializer_list<const char*> lines) {
  ReplyParser p;
  std::optional<Reply> r;
  for (const char* l : lines) r = p.feed(l);
  return r;
}

TEST(ReplyParser, EnhancedCodeOnEveryLineIsStrippedFromEach) {
  auto r = parse({"554-5.7.1 blocked", "554 5.7.1 go away"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->enhanced, "5.7.1");
  EXPECT_EQ(r->lines, (std::vector<std::string>{"blocked", "go away"}));
}

TEST(ReplyParser, EnhancedCodeOnlyOnTheLastLineIsFound) {
  auto r = parse({"554-fake.test blocked", "554 5.7.1 go away"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 554);
  EXPECT_EQ(r->enhanced, "5.7.1");
  EXPECT_EQ(r->lines, (std::vector<std::string>{"fake.test blocked", "go away"}));
}

TEST(ReplyParser, AnEnhancedCodeOfAnotherClassIsText) {
  auto r = parse({"554 4.7.1 odd"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->enhanced, "");
  EXPECT_EQ(r->lines, (std::vector<std::string>{"4.7.1 odd"}));
}

}  // namespace
}  // namespace postern::smtp
