#include "testbed/search.hpp"

#include <gtest/gtest.h>

namespace postern::testbed {
namespace {

using Kind = SearchTerm::Kind;
using namespace std::chrono;

MessageSummary sample() {
  MessageSummary m;
  m.id = "1";
  m.subject = "Your Order #42 shipped";
  m.header_from = {"Shop Team", "shop@example.com"};
  m.header_to = {{"Ann", "ann@example.org"}};
  m.cc = {{"", "boss@example.org"}};
  m.bcc = {{"", "audit@example.net"}};
  m.reply_to = {{"", "help@example.com"}};
  m.message_id = "ABC-123@example.com";
  m.tags = {"Orders", "urgent"};
  m.inboxes = {"ann@example.org", "audit@example.net"};
  m.attachments = 1;
  m.size = 3000;
  m.received = sys_days(year(2025) / 3 / 15) + hours(12);
  m.search_text = std::make_shared<const std::string>(clean_search_text("Shop Team shop@example.com Your Order #42 shipped ann@example.org Hello, the parcel (2 boxes) left today invoice.pdf"));
  return m;
}

bool match(std::string_view q) { return matches(parse_search(q), sample()); }

TEST(SearchWords, SpacesOutsideQuotesQuotesDropped) {
  EXPECT_EQ(search_words(R"(a  "b c" subject:"x y" -"d")"), (std::vector<std::string>{"a", "b c", "subject:x y", "-d"}));
  EXPECT_EQ(search_words(R"(   ""  )"), std::vector<std::string>{});
  EXPECT_EQ(search_words(R"("unterminated phrase)"), std::vector<std::string>{"unterminated phrase"});
}

TEST(Search, EmptyMatchesEverything) {
  EXPECT_TRUE(parse_search("").empty());
  EXPECT_TRUE(parse_search("  to:  from:\"\" , ").empty());
  EXPECT_TRUE(match(""));
}

TEST(Search, FreeTextAndPhrases) {
  EXPECT_TRUE(match("parcel"));
  EXPECT_TRUE(match("PARCEL today"));
  EXPECT_TRUE(match(R"("parcel 2 boxes")")) << "punctuation is cleaned on both sides";
  EXPECT_FALSE(match(R"("today parcel")"));
  EXPECT_FALSE(match("parcel missing"));
  EXPECT_TRUE(match("invoice.pdf"));
}

TEST(Search, Negation) {
  EXPECT_FALSE(match("-parcel"));
  EXPECT_FALSE(match("!parcel"));
  EXPECT_TRUE(match("-missing"));
  EXPECT_TRUE(match("-from:other"));
  EXPECT_FALSE(match("!tag:orders"));
  EXPECT_FALSE(parse_search("-").terms.at(0).exclude) << "a lone - is a word";
  EXPECT_FALSE(match("-is:unread is:read"));
}

TEST(Search, AddressFields) {
  EXPECT_TRUE(match("to:ann@example.org"));
  EXPECT_TRUE(match("to:ANN"));
  EXPECT_FALSE(match("to:shop"));
  EXPECT_TRUE(match("from:\"shop team\""));
  EXPECT_TRUE(match("from:shop@example.com"));
  EXPECT_TRUE(match("cc:boss"));
  EXPECT_TRUE(match("bcc:audit@"));
  EXPECT_TRUE(match("reply-to:help"));
  EXPECT_TRUE(match("addressed:audit"));
  EXPECT_FALSE(match("addressed:nobody"));
  EXPECT_TRUE(match("From:<shop@example.com>")) << "prefixes in any case, <> cleaned";
}

TEST(Search, SubjectMessageIdTag) {
  EXPECT_TRUE(match("subject:order"));
  EXPECT_TRUE(match("subject:\"order #42\""));
  EXPECT_FALSE(match("subject:parcel"));
  EXPECT_TRUE(match("message-id:abc-123"));
  EXPECT_FALSE(match("message-id:xyz"));
  EXPECT_TRUE(match("tag:orders"));
  EXPECT_FALSE(match("tag:order")) << "a whole tag";
  EXPECT_TRUE(match("is:tagged"));
  EXPECT_TRUE(match("inbox:Audit@Example.net"));
  EXPECT_FALSE(match("inbox:audit")) << "a whole address";
  EXPECT_TRUE(match("-inbox:boss@example.org"));
}

TEST(Search, FlagsAndSizes) {
  EXPECT_TRUE(match("is:unread"));
  EXPECT_FALSE(match("is:read"));
  EXPECT_TRUE(match("has:attachment"));
  EXPECT_TRUE(match("has:attachments"));
  EXPECT_FALSE(match("has:inline"));
  EXPECT_TRUE(match("larger:2k"));
  EXPECT_FALSE(match("larger:1mb"));
  EXPECT_TRUE(match("smaller:0.5m"));
  EXPECT_EQ(parse_search("larger:lots").terms.at(0).kind, Kind::text) << "no size: free text, as Mailpit";
  EXPECT_EQ(parse_search_size("1.5 KB"), 1536u);
  EXPECT_EQ(parse_search_size("12"), 12u);
  EXPECT_EQ(parse_search_size("3g"), 0u);
}

TEST(Search, Dates) {
  EXPECT_TRUE(match("after:2025-03-15"));
  EXPECT_TRUE(match("before:2025-03-16"));
  EXPECT_FALSE(match("before:2025-03-15"));
  EXPECT_TRUE(match("after:2025-03-15T11:59:59Z before:2025-03-15T12:00:00Z"));
  EXPECT_FALSE(match("after:2025-03-15T12:00:01"));
  EXPECT_TRUE(match("after:\"2025-03-15 13:30:00+01:30\""));
  EXPECT_FALSE(match("-after:2025/03/01"));
  EXPECT_EQ(parse_search_date("1742040000"), sys_days(year(2025) / 3 / 15) + hours(12));
  EXPECT_EQ(parse_search_date("2025-03-15t12:00:00.5z"), sys_days(year(2025) / 3 / 15) + hours(12) + milliseconds(500));
  for (auto bad : {"2025-02-30", "2025-13-01", "15/03/2025", "yesterday", "2025-03-15T25:00", "2025-03-15X", "2025-03-15T12:00+99:00"})
    EXPECT_FALSE(parse_search_date(bad)) << bad;
  EXPECT_THROW(parse_search("before:yesterday"), std::invalid_argument);
}

TEST(Search, Bounds) {
  EXPECT_THROW(parse_search(std::string(max_query_octets + 1, 'a')), std::invalid_argument);
  std::string many, same;
  for (std::size_t i = 0; i <= max_query_terms; ++i) many += "w" + std::to_string(i) + " ", same += "w ";
  EXPECT_THROW(parse_search(many), std::invalid_argument);
  EXPECT_EQ(parse_search(same).terms.size(), 1u) << "a repeated term counts once";
  EXPECT_EQ(parse_search("to:a -to:a to:A").terms.size(), 2u);
}

}  // namespace
}  // namespace postern::testbed
