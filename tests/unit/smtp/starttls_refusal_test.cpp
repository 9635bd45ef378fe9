// STARTTLS answered by the host before its 220 goes out (the testbed's
// `command = "STARTTLS"` rules): the 220 is withdrawn, the refusal is the
// only answer, and the session goes on in plaintext.
#include <gtest/gtest.h>

#include "smtp/dialogue.hpp"

using namespace postern::smtp;

namespace {

std::vector<std::string> answer(ServerDialogue& d, bool refuse_tls, bool& asked) {
  std::vector<std::string> sent;
  for (;;) {
    Event e = d.next();
    if (e.kind == Event::Kind::need_input || e.kind == Event::Kind::close) break;
    if (e.kind == Event::Kind::hello) d.accept_hello({});
    if (e.kind == Event::Kind::mail) d.accept();
    if (e.kind == Event::Kind::starttls) {
      asked = true;
      EXPECT_FALSE(d.replies().empty());
      if (!d.replies().empty()) EXPECT_EQ(d.replies().back().reply.code, 220);
      if (refuse_tls) d.refuse_starttls(Reply{454, "4.7.0", "TLS not available due to temporary reason"}, "rule 1");
      else d.tls_started();
    }
    for (auto& o : d.replies()) sent.push_back(o.reply.summary());
    d.replies().clear();
  }
  return sent;
}

TEST(StarttlsRefusal, TheRefusalReplacesThe220AndPlaintextGoesOn) {
  SessionState session;
  DialogueSettings settings;
  settings.hostname = "mx.test";
  settings.starttls_offered = true;
  ServerDialogue d(settings, session);
  d.greet();
  d.replies().clear();
  bool asked = false;
  d.receive("EHLO c.test\r\n");
  answer(d, true, asked);
  d.receive("STARTTLS\r\n");
  auto sent = answer(d, true, asked);
  EXPECT_TRUE(asked);
  EXPECT_EQ(sent, std::vector<std::string>{"454 4.7.0 TLS not available due to temporary reason"});
  EXPECT_FALSE(session.tls);
  d.receive("MAIL FROM:<a@b.test>\r\n");
  sent = answer(d, true, asked);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].substr(0, 3), "250");
}

TEST(StarttlsRefusal, OnlyWhileStarttlsIsAsked) {
  SessionState session;
  DialogueSettings settings;
  settings.hostname = "mx.test";
  ServerDialogue d(settings, session);
  EXPECT_THROW(d.refuse_starttls(Reply{454, "4.7.0", "no"}), std::logic_error);
}

}  // namespace
