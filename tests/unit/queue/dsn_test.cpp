#include "queue/dsn.hpp"

#include <gtest/gtest.h>

#include <map>

namespace postern::queue {
namespace {

using namespace std::chrono;

// Splits a multipart body at `boundary` into parts (headers + body each).
std::vector<std::string> parts(const std::string& msg, const std::string& boundary) {
  std::vector<std::string> out;
  std::string delim = "\r\n--" + boundary;
  std::size_t pos = msg.find("--" + boundary + "\r\n");
  while (pos != std::string::npos) {
    std::size_t start = msg.find("\r\n", pos) + 2;
    std::size_t next = msg.find(delim, start);
    if (next == std::string::npos) break;
    out.push_back(msg.substr(start, next - start));
    if (msg.compare(next + delim.size(), 2, "--") == 0) break;
    pos = next + 2;
  }
  return out;
}

DsnReport sample() {
  DsnReport r;
  r.reporting_mta = "mx.example.org";
  r.queue_id = "0123456789abcdef";
  r.original_sender = "alice@example.org";
  r.arrival = system_clock::from_time_t(1700000000);
  r.now = system_clock::from_time_t(1700000600);
  r.boundary = "BOUNDARY";
  r.original_message = "Subject: hello\r\nFrom: alice@example.org\r\nTo: bob@remote.test\r\n\r\nsecret body\r\n";
  DsnRecipient d;
  d.address = "bob@remote.test";
  d.status = "5.1.1";
  d.remote_mta = "mx.remote.test";
  d.diagnostic = "550 5.1.1 No such user";
  d.explanation = "The mailbox does not exist.";
  d.last_attempt = system_clock::from_time_t(1700000500);
  r.recipients.push_back(d);
  return r;
}

TEST(Dsn, StructureAndFields) {
  std::string m = build_dsn(sample());
  EXPECT_NE(m.find("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"BOUNDARY\""),
            std::string::npos);
  EXPECT_NE(m.find("To: <alice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(m.find("From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"), std::string::npos);
  EXPECT_NE(m.find("Subject: Undelivered Mail Returned to Sender\r\n"), std::string::npos);
  EXPECT_NE(m.find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
  auto p = parts(m, "BOUNDARY");
  ASSERT_EQ(p.size(), 3u) << m;
  EXPECT_NE(p[0].find("text/plain"), std::string::npos);
  EXPECT_NE(p[0].find("<bob@remote.test>: host mx.remote.test said: 550 5.1.1 No such user"), std::string::npos);
  EXPECT_NE(p[0].find("Meaning: The mailbox does not exist."), std::string::npos);
  EXPECT_NE(p[1].find("Content-Type: message/delivery-status\r\n\r\n"), std::string::npos);
  for (const char* want : {"Reporting-MTA: dns; mx.example.org\r\n", "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n",
                           "Final-Recipient: rfc822; bob@remote.test\r\n", "Action: failed\r\n", "Status: 5.1.1\r\n",
                           "Remote-MTA: dns; mx.remote.test\r\n", "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n"}) {
    EXPECT_NE(p[1].find(want), std::string::npos) << "missing " << want << " in\n" << p[1];
  }
  EXPECT_NE(p[2].find("Content-Type: text/rfc822-headers"), std::string::npos);
  EXPECT_NE(p[2].find("Subject: hello\r\nFrom: alice@example.org\r\nTo: bob@remote.test\r\n"), std::string::npos);
  EXPECT_EQ(m.find("secret body"), std::string::npos) << "the body must not be returned";
  EXPECT_EQ(m.find("\n\r\n.", 0), std::string::npos);
  // Every line ends in CRLF.
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m[i] == '\n') { ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i; }
}

TEST(Dsn, DelayWarning) {
  auto r = sample();
  r.recipients[0].action = DsnAction::delayed;
  r.recipients[0].status = "4.2.0";
  r.recipients[0].diagnostic = "450 4.2.0 Greylisted, try again in 300 seconds";
  r.recipients[0].will_retry_until = system_clock::from_time_t(1700432000);
  std::string m = build_dsn(r);
  EXPECT_NE(m.find("Subject: Delayed Mail (still being retried)"), std::string::npos);
  EXPECT_NE(m.find("Action: delayed\r\n"), std::string::npos);
  EXPECT_NE(m.find("Will-Retry-Until: "), std::string::npos);
}

TEST(Dsn, NoRemoteServer) {
  auto r = sample();
  r.recipients[0].remote_mta.clear();
  r.recipients[0].diagnostic_is_smtp = false;
  r.recipients[0].status = "5.1.10";
  r.recipients[0].diagnostic = "remote.test: domain accepts no mail (null MX, RFC 7505)";
  std::string m = build_dsn(r);
  EXPECT_EQ(m.find("Remote-MTA:"), std::string::npos);
  EXPECT_NE(m.find("Diagnostic-Code: X-Postern; remote.test: domain accepts no mail"), std::string::npos);
  EXPECT_NE(m.find("Status: 5.1.10\r\n"), std::string::npos);
}

TEST(Dsn, HostileReplyCannotInjectFields) {
  auto r = sample();
  r.recipients[0].diagnostic = "550 bad\r\nAction: delivered\r\n\r\n--BOUNDARY--";
  std::string m = build_dsn(r);
  EXPECT_EQ(m.find("\r\nAction: delivered"), std::string::npos);
  EXPECT_EQ(parts(m, "BOUNDARY").size(), 3u);
}

TEST(Dsn, LongDiagnosticIsFolded) {
  auto r = sample();
  r.recipients[0].diagnostic = "550 5.7.1 " + std::string(40, 'x') + " " + std::string(40, 'y') + " " + std::string(40, 'z');
  std::string m = build_dsn(r);
  for (std::size_t start = 0, nl; (nl = m.find("\r\n", start)) != std::string::npos; start = nl + 2) {
    std::string line = m.substr(start, nl - start);
    if (line.rfind("Diagnostic-Code", 0) == 0) { EXPECT_LE(line.size(), 80u) << line; }
  }
  EXPECT_NE(m.find("\r\n " + std::string(40, 'y')), std::string::npos) << m;
}

TEST(HeaderSection, Table) {
  struct Case {
    const char* name;
    std::string in;
    std::string want;
  } cases[] = {
      {"crlf", "A: 1\r\nB: 2\r\n\r\nbody", "A: 1\r\nB: 2\r\n"},
      {"lf", "A: 1\nB: 2\n\nbody", "A: 1\r\nB: 2\r\n"},
      {"no body", "A: 1\r\nB: 2", "A: 1\r\nB: 2\r\n"},
      {"folded kept", "A: 1\r\n  more\r\n\r\n", "A: 1\r\n  more\r\n"},
      {"empty", "", ""},
  };
  for (auto& c : cases) EXPECT_EQ(header_section(c.in), c.want) << c.name;
  EXPECT_EQ(header_section("A: 1\r\nB: 2\r\n\r\n", 8), "A: 1\r\n");
}

TEST(StatusFor, Table) {
  EXPECT_EQ(status_for(550, "5.1.1"), "5.1.1");
  EXPECT_EQ(status_for(550, ""), "5.0.0");
  EXPECT_EQ(status_for(450, ""), "4.0.0");
  EXPECT_EQ(status_for(450, "5.1.1"), "4.0.0");  // class mismatch: not trusted
  EXPECT_FALSE(is_bounceable(""));
  EXPECT_TRUE(is_bounceable("a@b"));
}

}  // namespace
}  // namespace postern::queue
