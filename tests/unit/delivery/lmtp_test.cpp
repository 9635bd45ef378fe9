// What an LMTP server's reply at RCPT becomes for our client
// (delivery/lmtp.hpp): its own code, enhanced code and text.
#include <gtest/gtest.h>

#include "delivery/lmtp.hpp"

namespace postern::delivery {
namespace {

std::string passed_on(int code, std::string enhanced, std::string text) {
  auto r = rcpt_reply(smtp::Reply(code, std::move(enhanced), std::move(text)));
  return r ? r->summary() : "accepted";
}

TEST(LmtpRcptReply, DovecotsRefusalsPassUnchanged) {
  EXPECT_EQ(passed_on(550, "5.1.1", "<nobody@example.org> User doesn't exist: nobody@example.org"),
            "550 5.1.1 <nobody@example.org> User doesn't exist: nobody@example.org");
  EXPECT_EQ(passed_on(552, "5.2.2", "<bob@example.org> Quota exceeded (mailbox for user is full)"),
            "552 5.2.2 <bob@example.org> Quota exceeded (mailbox for user is full)");
  EXPECT_EQ(passed_on(451, "4.3.0", "<bob@example.org> Temporary internal error"),
            "451 4.3.0 <bob@example.org> Temporary internal error");
  EXPECT_EQ(passed_on(452, "4.2.2", "Mailbox is full"), "452 4.2.2 Mailbox is full");
}

TEST(LmtpRcptReply, TwoHundredsAccept) {
  EXPECT_EQ(passed_on(250, "2.1.5", "OK"), "accepted");
  EXPECT_EQ(passed_on(251, "", "will forward"), "accepted");
}

TEST(LmtpRcptReply, EveryRefusalGetsAnEnhancedCodeOfItsClass) {
  EXPECT_EQ(passed_on(550, "", "no"), "550 5.0.0 no");
  EXPECT_EQ(passed_on(450, "", "later"), "450 4.0.0 later");
  EXPECT_EQ(passed_on(550, "", ""), "550 5.0.0 Recipient refused by the mailbox server");
}

TEST(LmtpRcptReply, TheServersClosingIsNotOurs) {
  // A 421 from the LMTP server would tell our client that we close.
  EXPECT_EQ(passed_on(421, "4.3.2", "shutting down"), "451 4.3.2 shutting down");
  EXPECT_EQ(passed_on(354, "", "go ahead"), lmtp_unavailable().summary());
  EXPECT_EQ(lmtp_unavailable().summary(), "451 4.4.0 Mailbox server unavailable, try again later");
}

TEST(LmtpRcptReply, ControlCharactersNeverReachTheClient) {
  auto r = rcpt_reply(smtp::Reply(550, "5.1.1", "bad\r\n250 fake\x01"));
  ASSERT_TRUE(r);
  for (char c : r->summary()) EXPECT_FALSE(c == '\r' || c == '\n' || c == '\x01');
}

TEST(LmtpOptions, UnixAndInet) {
  config::Config c = config::defaults();
  c.delivery.kind = config::TransportKind::lmtp_unix;
  c.delivery.lmtp_socket = "/run/dovecot/lmtp";
  auto o = lmtp_options(c, {});
  EXPECT_TRUE(o.lmtp);
  EXPECT_EQ(o.unix_path, "/run/dovecot/lmtp");
  EXPECT_EQ(o.tls, client::TlsMode::none);
  c.delivery.kind = config::TransportKind::lmtp_inet;
  c.delivery.lmtp_host = "::1";
  c.delivery.lmtp_port = 24;
  o = lmtp_options(c, {});
  EXPECT_TRUE(o.unix_path.empty());
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, "24");
  EXPECT_EQ(c.transport(), "lmtp:inet:[::1]:24");
}

}  // namespace
}  // namespace postern::delivery
