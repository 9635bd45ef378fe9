// How a session ended, at a glance (GET /api/sessions): the last reply but
// those to RSET, NOOP and QUIT, with the scenario or rule that chose it.
#include <gtest/gtest.h>

#include "testbed/transcripts.hpp"

namespace postern::testbed {
namespace {

TEST(SessionOutcome, TheLastTellingReplyAndItsCause) {
  Transcripts t;
  admission::SessionInfo s;
  s.id = "s1";
  s.peer_address = "192.0.2.1";
  t.opened(s);
  EXPECT_EQ(t.list().at(0).last_code, -1) << "no reply yet";
  t.server_reply(s, smtp::Reply(220, "", "mx ESMTP"), "");
  t.client_line(s, "RCPT TO:<locked@x.test>");
  t.server_reply(s, smtp::Reply(450, "4.2.1", "Mailbox temporarily unavailable"), "scenario locked");
  t.client_line(s, "RSET");
  t.server_reply(s, smtp::Reply(250, "2.0.0", "Reset OK"), "");
  t.client_line(s, "QUIT");
  t.server_reply(s, smtp::Reply(221, "2.0.0", "Bye"), "");
  auto one = t.list().at(0);
  EXPECT_EQ(one.last_code, 450);
  EXPECT_EQ(one.last_reply, "450 4.2.1 Mailbox temporarily unavailable");
  EXPECT_EQ(one.last_cause, "scenario locked");

  admission::SessionInfo d = s;
  d.id = "s2";
  t.opened(d);
  t.client_line(d, "QUIT");
  t.server_reply(d, smtp::Reply(221, "2.0.0", "Bye"), "");
  EXPECT_EQ(t.get("s2")->last_code, 221) << "a goodbye alone is how it ended";
  t.client_line(d, "RCPT TO:<drop-after-rcpt@x.test>");
  t.server_reply(d, smtp::Reply(0, "", "(connection closed, no reply)"), "scenario drop-after-rcpt");
  EXPECT_EQ(t.get("s2")->last_code, 0);
  EXPECT_EQ(t.get("s2")->last_cause, "scenario drop-after-rcpt");
}

}  // namespace
}  // namespace postern::testbed
