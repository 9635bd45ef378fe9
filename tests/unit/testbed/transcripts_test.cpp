#include "testbed/transcripts.hpp"

#include <gtest/gtest.h>

namespace postern::testbed {
namespace {

admission::SessionInfo session(int n) {
  admission::SessionInfo s;
  s.id = "s" + std::to_string(n);
  s.peer_address = "192.0.2.1";
  return s;
}

// 1,000 NOOP lines of 500 octets in each of many sessions: the total stays
// within the budget, the oldest transcripts go first with a marker, and
// every session keeps its summary.
TEST(Transcripts, OneByteBudgetForAllSessions) {
  TranscriptLimits limits;
  limits.max_lines = 100;
  limits.max_session_bytes = 64 << 10;
  limits.max_bytes = 256 << 10;
  Transcripts t(limits);
  const std::string noop = "NOOP " + std::string(495, 'x');
  for (int n = 0; n < 20; ++n) {
    t.opened(session(n));
    for (int i = 0; i < 1000; ++i) t.client_line(session(n), noop);
    t.closed(session(n));
    EXPECT_LE(t.bytes(), limits.max_bytes);
  }
  const auto list = t.list();
  ASSERT_EQ(list.size(), 20u);
  EXPECT_EQ(list.front().id, "s19") << "newest first";
  EXPECT_EQ(list.front().lines, 1000u) << "lines seen, kept or not";
  EXPECT_FALSE(list.front().dropped);
  EXPECT_TRUE(list.back().dropped);

  const auto newest = t.get("s19");
  ASSERT_TRUE(newest);
  EXPECT_LE(newest->transcript.size(), limits.max_lines + 1);
  EXPECT_NE(newest->transcript.back().line.find("transcript truncated"), std::string::npos);
  const auto oldest = t.get("s0");
  ASSERT_TRUE(oldest);
  ASSERT_EQ(oldest->transcript.size(), 1u);
  EXPECT_NE(oldest->transcript[0].line.find("transcript dropped"), std::string::npos);
}

TEST(Transcripts, SessionCountAndMessageIdsAreBounded) {
  TranscriptLimits limits;
  limits.max_sessions = 3;
  limits.max_session_messages = 2;
  Transcripts t(limits);
  for (int n = 0; n < 5; ++n) t.opened(session(n));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_FALSE(t.get("s0"));
  for (const char* id : {"0000000000000001", "0000000000000002", "0000000000000003"})
    t.server_reply(session(4), smtp::Reply(250, "2.0.0", std::string("OK queued as ") + id), "");
  const auto s = t.get("s4");
  ASSERT_TRUE(s);
  EXPECT_EQ(std::vector<std::string>(s->messages.begin(), s->messages.end()),
            (std::vector<std::string>{"0000000000000002", "0000000000000003"}));
  EXPECT_EQ(t.session_of("0000000000000003"), "s4");
  EXPECT_EQ(t.session_of("0000000000000001"), "") << "forgotten with the id";
}

}  // namespace
}  // namespace postern::testbed
