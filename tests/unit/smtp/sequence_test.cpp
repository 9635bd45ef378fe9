#include <gtest/gtest.h>

#include "smtp/sequence.hpp"

using namespace postern::smtp;

namespace {

std::string refusal(Verb verb, const DialogueState& s) {
  auto r = sequence_refusal(verb, s);
  return r ? r->summary() : "";
}

}  // namespace

// The states a session goes through, and what each command gets in them.
TEST(Sequence, BeforeAnyGreeting) {
  DialogueState s;
  s.starttls_offered = true;
  EXPECT_EQ(refusal(Verb::mail, s), "503 5.5.1 Send EHLO or HELO first");
  EXPECT_EQ(refusal(Verb::rcpt, s), "503 5.5.1 Need MAIL before RCPT");
  EXPECT_EQ(refusal(Verb::data, s), "503 5.5.1 Need MAIL command");
  EXPECT_EQ(refusal(Verb::bdat, s), "503 5.5.1 Need MAIL command");
  EXPECT_EQ(refusal(Verb::auth, s), "503 5.5.1 Send EHLO first");
  for (Verb v : {Verb::ehlo, Verb::helo, Verb::rset, Verb::noop, Verb::quit, Verb::vrfy, Verb::expn, Verb::help,
                 Verb::starttls})
    EXPECT_EQ(refusal(v, s), "") << to_string(v);
}

TEST(Sequence, HeloIsNotEnoughForAuth) {
  DialogueState s;
  s.greeted = true;
  EXPECT_EQ(refusal(Verb::auth, s), "503 5.5.1 Send EHLO first");
  EXPECT_EQ(refusal(Verb::mail, s), "");
  s.esmtp = true;
  EXPECT_EQ(refusal(Verb::auth, s), "");
  s.authenticated = true;
  EXPECT_EQ(refusal(Verb::auth, s), "503 5.5.1 Already authenticated");
}

TEST(Sequence, InsideATransaction) {
  DialogueState s;
  s.greeted = s.esmtp = s.in_transaction = true;
  EXPECT_EQ(refusal(Verb::mail, s), "503 5.5.1 Nested MAIL command");
  EXPECT_EQ(refusal(Verb::auth, s), "503 5.5.1 AUTH not permitted during a mail transaction");
  EXPECT_EQ(refusal(Verb::rcpt, s), "");
  EXPECT_EQ(refusal(Verb::data, s), "554 5.5.1 No valid recipients");  // RFC 2920 §3.1
  EXPECT_EQ(refusal(Verb::bdat, s), "554 5.5.1 No valid recipients");
  s.has_recipients = true;
  EXPECT_EQ(refusal(Verb::data, s), "");
  EXPECT_EQ(refusal(Verb::bdat, s), "");
}

TEST(Sequence, BetweenBdatChunks) {
  DialogueState s;
  s.greeted = s.esmtp = s.in_transaction = s.has_recipients = s.in_bdat = true;
  EXPECT_EQ(refusal(Verb::bdat, s), "");
  EXPECT_EQ(refusal(Verb::rcpt, s), "503 5.5.1 RCPT not allowed during BDAT");
  EXPECT_EQ(refusal(Verb::data, s), "503 5.5.1 DATA not allowed after BDAT");
  EXPECT_EQ(refusal(Verb::mail, s), "503 5.5.1 Nested MAIL command");
  EXPECT_EQ(refusal(Verb::rset, s), "");
}

TEST(Sequence, Starttls) {
  DialogueState s;
  EXPECT_EQ(refusal(Verb::starttls, s), "502 5.5.1 STARTTLS not offered");
  s.starttls_offered = true;
  EXPECT_EQ(refusal(Verb::starttls, s), "");
  s.tls = true;
  EXPECT_EQ(refusal(Verb::starttls, s), "503 5.5.1 TLS already active");
}

TEST(Sequence, TheClientWaitsAfterTheCommandsRfc2920Names) {
  for (Verb v : {Verb::ehlo, Verb::helo, Verb::data, Verb::noop, Verb::quit, Verb::vrfy, Verb::expn, Verb::starttls,
                 Verb::auth})
    EXPECT_TRUE(rule(v).ends_group) << to_string(v);
  for (Verb v : {Verb::mail, Verb::rcpt, Verb::rset, Verb::bdat}) EXPECT_FALSE(rule(v).ends_group) << to_string(v);
  for (int v = 0; v <= static_cast<int>(Verb::auth); ++v) EXPECT_EQ(rule(static_cast<Verb>(v)).verb, static_cast<Verb>(v));
}
