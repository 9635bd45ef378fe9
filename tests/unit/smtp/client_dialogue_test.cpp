// smtp::ClientDialogue without sockets: against the server's dialogue (the
// two halves of the protocol talking to each other, every reply split at
// every byte boundary), and against canned replies for each way a server
// can refuse, misbehave or lie.
#include "smtp/client_dialogue.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "scripted_host.hpp"
#include "smtp/dialogue.hpp"

namespace postern::smtp {
namespace {

using Kind = ClientEvent::Kind;
using namespace std::string_literals;

// What the client did in one operation.
struct Outcome {
  Kind end = Kind::idle;
  std::vector<std::string> writes;  // each write event's octets
  std::vector<std::string> shown;   // transcript lines of the client
  std::vector<std::string> lines;   // server lines reported
  std::vector<std::string> notes;
  std::vector<std::string> infos;
  std::vector<std::string> challenges;
  std::vector<ClientEvent::Timer> timers;
};

// Runs the client's operation to its end. `serve` is called with each
// write and returns the server's octets; those reach the client `split`
// octets at a time. Challenges are answered from `answers`, in order.
template <typename Serve>
Outcome run(ClientDialogue& c, Serve&& serve, std::string pending = {}, std::size_t split = 1 << 20,
            std::vector<std::string> answers = {}) {
  Outcome o;
  std::size_t next_answer = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    ClientEvent e = c.next();
    switch (e.kind) {
      case Kind::write:
        o.writes.emplace_back(e.wire);
        o.shown.insert(o.shown.end(), e.shown.begin(), e.shown.end());
        pending += serve(std::string(e.wire));
        break;
      case Kind::need_input: {
        o.timers.push_back(e.timer);
        if (pending.empty()) {
          o.end = Kind::need_input;  // the server has nothing more to say
          return o;
        }
        auto n = std::min(split, pending.size());
        c.receive(std::string_view(pending).substr(0, n));
        pending.erase(0, n);
        break;
      }
      case Kind::line:
        o.lines.push_back(e.text);
        o.notes.push_back(e.note);
        break;
      case Kind::info:
        o.infos.push_back(e.text);
        break;
      case Kind::start_tls:
        c.tls_started();
        break;
      case Kind::challenge:
        o.challenges.push_back(e.text);
        if (next_answer < answers.size())
          c.answer(SaslAnswer{answers[next_answer++]});
        else
          c.cancel("no answer");
        break;
      case Kind::done:
      case Kind::failed:
      case Kind::idle:
        o.end = e.kind;
        return o;
    }
  }
  ADD_FAILURE() << "the dialogue does not end";
  return o;
}

// A server that answers the i-th write with replies[i].
struct Canned {
  std::vector<std::string> replies;
  std::size_t i = 0;
  std::string operator()(const std::string&) { return i < replies.size() ? replies[i++] : ""; }
};

// ---------------------------------------------------------------- against ServerDialogue

struct Pair {
  SessionState session;
  ServerDialogue server;
  scripted::ScriptedHost host;
  ClientDialogue client{ClientDialogue::Limits{}};

  Pair() : server(settings(), session), host(server) {}
  static DialogueSettings settings() {
    DialogueSettings s;
    s.hostname = "mx.example";
    s.max_message_size = 1 << 20;
    s.max_recipients = 10;
    s.starttls_offered = true;
    return s;
  }
  std::string greeting() {
    server.greet();
    host.run();
    return host.take_output();
  }
  std::string operator()(const std::string& wire) {
    server.receive(wire);
    host.run();
    return host.take_output();
  }
};

void whole_session(std::size_t split) {
  SCOPED_TRACE("split " + std::to_string(split));
  Pair p;
  auto serve = [&](const std::string& w) { return p(w); };

  p.client.open("client.example", ClientDialogue::TlsWant::required);
  auto opened = run(p.client, serve, p.greeting(), split);
  ASSERT_EQ(opened.end, Kind::done);
  EXPECT_EQ(p.client.greeting().code, 220);
  EXPECT_TRUE(p.session.tls);
  EXPECT_TRUE(p.client.capabilities().pipelining);
  EXPECT_FALSE(p.client.capabilities().starttls);  // the EHLO after TLS no longer offers it
  EXPECT_EQ(opened.shown, (std::vector<std::string>{"EHLO client.example", "STARTTLS", "EHLO client.example"}));

  p.client.authenticate("PLAIN", SaslAnswer{"\0user\0secret"s, true, ""});
  auto authed = run(p.client, serve, {}, split);
  ASSERT_EQ(authed.end, Kind::done);
  EXPECT_EQ(p.client.last_reply().code, 235);
  EXPECT_EQ(p.session.auth_identity, "user");
  EXPECT_EQ(authed.shown, (std::vector<std::string>{"AUTH PLAIN <redacted>"}));

  Outbound m;
  m.reverse_path = "a@example.org";
  m.recipients = {"b@example.org", "unknown@example.org", "c@example.org"};
  m.data = "Subject: x\r\n\r\n..dot\r\n.\r\n";
  m.message_octets = 20;
  p.client.send(m);
  auto sent = run(p.client, serve, {}, split);
  ASSERT_EQ(sent.end, Kind::done);
  // RFC 2920: MAIL, every RCPT and DATA in one write, then the body.
  ASSERT_EQ(sent.writes.size(), 2u);
  EXPECT_EQ(sent.writes[0],
            "MAIL FROM:<a@example.org> SIZE=24\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<unknown@example.org>\r\n"
            "RCPT TO:<c@example.org>\r\nDATA\r\n");
  auto& d = p.client.delivery();
  EXPECT_TRUE(d.delivered(0));
  EXPECT_FALSE(d.delivered(1));
  EXPECT_EQ(d.outcome(1)->enhanced, "5.1.1");
  EXPECT_TRUE(d.delivered(2));
  ASSERT_EQ(p.host.messages().size(), 1u);
  EXPECT_EQ(p.host.messages()[0], "Subject: x\r\n\r\n.dot\r\n");
  EXPECT_EQ(sent.timers.back(), ClientEvent::Timer::data);

  p.client.quit();
  auto quit = run(p.client, serve, {}, split);
  EXPECT_EQ(quit.end, Kind::done);
  EXPECT_EQ(quit.timers.back(), ClientEvent::Timer::goodbye);
  EXPECT_TRUE(p.host.closed());
}

TEST(ClientDialogue, AWholeSessionWithTheServersDialogue) { whole_session(1 << 20); }

TEST(ClientDialogue, EveryReplySplitAtEveryBoundary) {
  for (std::size_t split : {1, 2, 3, 5, 7, 11, 64}) whole_session(split);
}

TEST(ClientDialogue, PlainAfterAChallenge) {
  Pair p;
  auto serve = [&](const std::string& w) { return p(w); };
  p.client.open("client.example", ClientDialogue::TlsWant::if_offered);
  ASSERT_EQ(run(p.client, serve, p.greeting()).end, Kind::done);
  p.client.authenticate("PLAIN", std::nullopt);
  auto o = run(p.client, serve, {}, 1 << 20, {"\0user\0wrong"s});
  EXPECT_EQ(o.end, Kind::failed);
  EXPECT_EQ(o.challenges, (std::vector<std::string>{""}));
  EXPECT_EQ(o.notes[0], "(empty challenge)");
  EXPECT_EQ(p.client.failure().kind, ClientFailure::Kind::auth);
  ASSERT_TRUE(p.client.failure().reply);
  EXPECT_EQ(p.client.failure().reply->code, 535);
  EXPECT_EQ(p.client.failure().message, "authentication with PLAIN failed");
}

// ---------------------------------------------------------------- canned replies

ClientDialogue opened(std::vector<std::string> ehlo_lines, ClientDialogue::Limits limits = {}) {
  ClientDialogue c(limits);
  c.open("c.example", ClientDialogue::TlsWant::never);
  std::string ehlo;
  for (std::size_t i = 0; i < ehlo_lines.size(); ++i)
    ehlo += "250" + std::string(i + 1 < ehlo_lines.size() ? "-" : " ") + ehlo_lines[i] + "\r\n";
  Canned server{{ehlo}};
  auto o = run(c, server, "220 mx ESMTP\r\n");
  EXPECT_EQ(o.end, Kind::done);
  return c;
}

Outbound message(std::vector<std::string> rcpts = {"b@example.org"}) {
  Outbound m;
  m.reverse_path = "a@example.org";
  m.recipients = std::move(rcpts);
  m.data = "hi\r\n.\r\n";
  m.message_octets = 4;
  return m;
}

TEST(ClientDialogue, FallsBackToHelo) {
  ClientDialogue c({});
  c.open("c.example", ClientDialogue::TlsWant::if_offered);
  Canned server{{"502 5.5.1 What?\r\n", "250 mx\r\n"}};
  auto o = run(c, server, "220 mx\r\n");
  EXPECT_EQ(o.end, Kind::done);
  EXPECT_EQ(o.shown, (std::vector<std::string>{"EHLO c.example", "HELO c.example"}));
  EXPECT_FALSE(c.capabilities().esmtp);
}

TEST(ClientDialogue, RefusalsWhileOpening) {
  struct Case {
    std::string greeting;
    std::vector<std::string> replies;
    ClientDialogue::TlsWant tls;
    ClientFailure::Kind kind;
    std::string message;
  };
  using W = ClientDialogue::TlsWant;
  using F = ClientFailure::Kind;
  const std::vector<Case> cases = {
      {"554 5.3.2 no service\r\n", {}, W::never, F::reply, "the server refused the session"},
      {"220 mx\r\n", {"421 4.3.2 bye\r\n"}, W::never, F::reply, "the server refused EHLO"},
      {"220 mx\r\n", {"451 4.3.0 later\r\n"}, W::never, F::reply, "the server refused EHLO"},
      {"220 mx\r\n", {"500 no\r\n", "501 no\r\n"}, W::never, F::reply, "the server refused EHLO and HELO"},
      {"220 mx\r\n", {"250 mx\r\n"}, W::required, F::no_tls, "the server does not offer STARTTLS"},
      {"220 mx\r\n", {"250-mx\r\n250 STARTTLS\r\n", "454 4.7.0 not now\r\n"}, W::required, F::no_tls,
       "the server refused STARTTLS"},
      {"220 mx\r\n", {"250-mx\r\n250 STARTTLS\r\n", "421 4.3.2 bye\r\n"}, W::if_offered, F::no_tls,
       "the server refused STARTTLS"},
      // The client side of CVE-2011-0411: nothing may follow the 220 in the clear.
      {"220 mx\r\n", {"250-mx\r\n250 STARTTLS\r\n", "220 go ahead\r\n250 injected\r\n"}, W::if_offered,
       F::protocol, "the server sent data after its 220 reply to STARTTLS"},
      {"hello\r\n", {}, W::never, F::protocol, "malformed reply line: \"hello\""},
      {"220-mx\r\n250 mx\r\n", {}, W::never, F::protocol, "reply code changed inside a multi-line reply"},
  };
  for (auto& k : cases) {
    SCOPED_TRACE(k.greeting + (k.replies.empty() ? "" : k.replies.back()));
    ClientDialogue c({});
    c.open("c.example", k.tls);
    Canned server{k.replies};
    auto o = run(c, server, k.greeting);
    ASSERT_EQ(o.end, Kind::failed);
    EXPECT_EQ(c.failure().kind, k.kind);
    EXPECT_EQ(c.failure().message.substr(0, k.message.size()), k.message);
  }
}

TEST(ClientDialogue, StartTlsRefusedWhenOptionalGoesOnInTheClear) {
  ClientDialogue c({});
  c.open("c.example", ClientDialogue::TlsWant::if_offered);
  Canned server{{"250-mx\r\n250 STARTTLS\r\n", "454 4.7.0 TLS not available\r\n"}};
  auto o = run(c, server, "220 mx\r\n");
  EXPECT_EQ(o.end, Kind::done);
  EXPECT_EQ(o.infos, (std::vector<std::string>{"STARTTLS refused; going on without TLS"}));
}

TEST(ClientDialogue, ReplyLimits) {
  {
    ClientDialogue c(ClientDialogue::Limits{64, 256, 16});
    c.open("c.example", ClientDialogue::TlsWant::never);
    Canned none;
    auto o = run(c, none, "220 " + std::string(100, 'x') + "\r\n");
    ASSERT_EQ(o.end, Kind::failed);
    EXPECT_EQ(c.failure().message, "reply line longer than 64 octets");
  }
  {
    ClientDialogue c(ClientDialogue::Limits{4096, 3, 16});
    c.open("c.example", ClientDialogue::TlsWant::never);
    Canned none;
    auto o = run(c, none, "220-a\r\n220-b\r\n220-c\r\n220 d\r\n");
    ASSERT_EQ(o.end, Kind::failed);
    EXPECT_EQ(c.failure().message, "reply longer than 3 lines");
  }
}

TEST(ClientDialogue, OneCommandAtATimeWithoutPipelining) {
  auto c = opened({"mx", "SIZE 1000", "8BITMIME"});
  auto m = message({"b@example.org", "x@example.org"});
  m.eight_bit = true;
  c.send(m);
  Canned server{{"250 2.1.0 ok\r\n", "250 2.1.5 ok\r\n", "550 5.1.1 no\r\n", "354 go\r\n", "250 2.0.0 queued\r\n"}};
  auto o = run(c, server);
  ASSERT_EQ(o.end, Kind::done);
  EXPECT_EQ(o.writes, (std::vector<std::string>{"MAIL FROM:<a@example.org> SIZE=7 BODY=8BITMIME\r\n",
                                                "RCPT TO:<b@example.org>\r\n", "RCPT TO:<x@example.org>\r\n",
                                                "DATA\r\n", "hi\r\n.\r\n"}));
  EXPECT_EQ(o.shown.back(), ".");
  EXPECT_EQ(o.shown[o.shown.size() - 2], "(message: 4 octets)");
  EXPECT_TRUE(c.delivery().delivered(0));
  EXPECT_FALSE(c.delivery().delivered(1));
}

TEST(ClientDialogue, ARefusedTransactionEndsWithRset) {
  {
    auto c = opened({"mx"});
    c.send(message());
    Canned server{{"550 5.7.1 sender blocked\r\n", "250 2.0.0 flushed\r\n"}};
    auto o = run(c, server);
    ASSERT_EQ(o.end, Kind::done);
    EXPECT_EQ(o.writes.back(), "RSET\r\n");
    EXPECT_EQ(c.delivery().outcome(0)->code, 550);
  }
  {
    // Pipelined, every recipient refused, yet DATA got 354: an empty
    // message makes the server drop the transaction (RFC 2920 §3.1).
    auto c = opened({"mx", "PIPELINING"});
    c.send(message());
    Canned server{{"250 ok\r\n550 5.1.1 no\r\n354 go\r\n", "554 5.5.1 no valid recipients\r\n", "250 ok\r\n"}};
    auto o = run(c, server);
    ASSERT_EQ(o.end, Kind::done);
    EXPECT_EQ(o.writes, (std::vector<std::string>{"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
                                                  ".\r\n", "RSET\r\n"}));
    EXPECT_FALSE(c.delivery().delivered(0));
  }
  {
    auto c = opened({"mx"});
    c.reset();
    Canned server{{"500 what\r\n"}};
    run(c, server);
    EXPECT_EQ(c.failure().message, "the server refused RSET");
  }
}

TEST(ClientDialogue, AClosingOrOutOfPlaceReplyFailsTheTransaction) {
  {
    auto c = opened({"mx", "PIPELINING"});
    c.send(message());
    Canned server{{"250 ok\r\n421 4.3.2 shutting down\r\n"}};
    run(c, server);
    EXPECT_EQ(c.failure().kind, ClientFailure::Kind::reply);
    EXPECT_EQ(c.failure().message, "the server is closing the connection");
    EXPECT_EQ(c.delivery().mail->code, 250);
  }
  {
    auto c = opened({"mx"});
    c.send(message());
    Canned server{{"354 what?\r\n"}};
    run(c, server);
    EXPECT_EQ(c.failure().kind, ClientFailure::Kind::protocol);
    EXPECT_EQ(c.failure().message, "unexpected reply to MAIL");
  }
}

TEST(ClientDialogue, MessagesTheServerCannotTake) {
  auto c = opened({"mx"});
  auto m = message();
  m.smtputf8 = true;
  c.send(m);
  Canned none;
  auto o = run(c, none);
  EXPECT_EQ(o.end, Kind::failed);
  EXPECT_TRUE(o.writes.empty());
  EXPECT_EQ(c.failure().kind, ClientFailure::Kind::unsupported);
  c.send(message({}));
  o = run(c, none);
  EXPECT_EQ(c.failure().message, "no recipients");

  auto u = opened({"mx", "SMTPUTF8"});
  u.send(m);
  Canned server{{"250 ok\r\n"}};
  o = run(u, server);
  EXPECT_EQ(o.writes[0], "MAIL FROM:<a@example.org> SMTPUTF8\r\n");
}

TEST(ClientDialogue, AuthExchange) {
  {
    // A bad challenge is cancelled with "*" (RFC 4954 §4), then fails.
    auto c = opened({"mx", "AUTH LOGIN"});
    c.authenticate("LOGIN", std::nullopt);
    Canned server{{"334 not*base64\r\n", "501 5.0.0 cancelled\r\n"}};
    auto o = run(c, server);
    ASSERT_EQ(o.end, Kind::failed);
    EXPECT_EQ(o.writes.back(), "*\r\n");
    EXPECT_EQ(o.notes[0], "(not valid base64)");
    EXPECT_EQ(c.failure().kind, ClientFailure::Kind::auth);
    EXPECT_EQ(c.failure().message, "the server's 334 challenge is not valid base64");
  }
  {
    // Answers are base64 on the wire, shown decoded or redacted.
    auto c = opened({"mx", "AUTH LOGIN"});
    c.authenticate("LOGIN", std::nullopt);
    Canned server{{"334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n", "235 2.7.0 ok\r\n"}};
    std::vector<std::string> order;
    Outcome o;
    for (;;) {
      auto e = c.next();
      if (e.kind == Kind::write) {
        o.writes.emplace_back(e.wire);
        o.shown.insert(o.shown.end(), e.shown.begin(), e.shown.end());
        c.receive(server(""));
      } else if (e.kind == Kind::challenge) {
        o.challenges.push_back(e.text);
        EXPECT_THROW(c.next(), std::logic_error);  // the host answers first
        if (e.text == "Username:")
          c.answer(SaslAnswer{"user"});
        else
          c.answer(SaslAnswer{"pw", true});
      } else if (e.kind == Kind::done || e.kind == Kind::failed) {
        o.end = e.kind;
        break;
      }
    }
    EXPECT_EQ(o.end, Kind::done);
    EXPECT_EQ(o.challenges, (std::vector<std::string>{"Username:", "Password:"}));
    EXPECT_EQ(o.writes, (std::vector<std::string>{"AUTH LOGIN\r\n", "dXNlcg==\r\n", "cHc=\r\n"}));
    EXPECT_EQ(o.shown, (std::vector<std::string>{"AUTH LOGIN", "dXNlcg==    [user]", "<redacted>"}));
  }
  {
    auto c = opened({"mx"}, ClientDialogue::Limits{4096, 256, 2});
    c.authenticate("X", SaslAnswer{""});
    Canned server{{"334 \r\n", "334 \r\n", "334 \r\n"}};
    auto o = run(c, server, {}, 1 << 20, {"a", "b", "c"});
    EXPECT_EQ(o.writes[0], "AUTH X =\r\n");  // "=": an empty initial response
    EXPECT_EQ(c.failure().message, "the server sent too many AUTH challenges");
  }
}

TEST(ClientDialogue, AnOperationTheHostAbandonedDoesNotBlockTheNext) {
  auto c = opened({"mx", "PIPELINING"});
  c.send(message());
  Canned silent;
  EXPECT_EQ(run(c, silent).end, Kind::need_input);  // say the read timed out
  c.quit();
  Canned server{{"221 bye\r\n"}};
  auto o = run(c, server);
  EXPECT_EQ(o.end, Kind::done);
  EXPECT_EQ(o.writes, (std::vector<std::string>{"QUIT\r\n"}));
}

// ---------------------------------------------------------------- LMTP (RFC 2033)

ClientDialogue opened_lmtp(std::vector<std::string> lhlo_lines) {
  ClientDialogue c({});
  c.open_lmtp("c.example", ClientDialogue::TlsWant::never);
  std::string lhlo;
  for (std::size_t i = 0; i < lhlo_lines.size(); ++i)
    lhlo += "250" + std::string(i + 1 < lhlo_lines.size() ? "-" : " ") + lhlo_lines[i] + "\r\n";
  Canned server{{lhlo}};
  auto o = run(c, server, "220 lmtp ready\r\n");
  EXPECT_EQ(o.end, Kind::done);
  EXPECT_EQ(o.writes, (std::vector<std::string>{"LHLO c.example\r\n"}));
  return c;
}

TEST(ClientDialogue, LmtpSaysLhloAndNeverFallsBackToHelo) {
  ClientDialogue c({});
  c.open_lmtp("c.example", ClientDialogue::TlsWant::never);
  Canned server{{"500 5.5.1 What?\r\n"}};
  auto o = run(c, server, "220 lmtp\r\n");
  EXPECT_EQ(o.end, Kind::failed);
  EXPECT_EQ(o.shown, (std::vector<std::string>{"LHLO c.example"}));
  EXPECT_EQ(c.failure().message, "the server refused LHLO");
}

TEST(ClientDialogue, LmtpReadsOneReplyPerAcceptedRecipientAfterTheDot) {
  for (bool pipelining : {false, true}) {
    SCOPED_TRACE(pipelining ? "pipelining" : "one at a time");
    auto c = opened_lmtp(pipelining ? std::vector<std::string>{"lmtp", "PIPELINING", "ENHANCEDSTATUSCODES"}
                                    : std::vector<std::string>{"lmtp"});
    c.send(message({"a@example.org", "unknown@example.org", "b@example.org", "c@example.org"}));
    const std::string after_dot = "250 2.0.0 <a@example.org> Saved\r\n451 4.2.1 <b@example.org> locked\r\n"
                                  "552 5.2.2 <c@example.org> over quota\r\n";
    Canned server = pipelining
        ? Canned{{"250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n250 ok\r\n354 go\r\n", after_dot}}
        : Canned{{"250 ok\r\n", "250 ok\r\n", "550 5.1.1 no such user\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n",
                  after_dot}};
    auto o = run(c, server, {}, 7);  // split across reads
    ASSERT_EQ(o.end, Kind::done);
    const auto& d = c.delivery();
    EXPECT_EQ(d.outcome(0)->summary(), "250 2.0.0 <a@example.org> Saved");
    EXPECT_EQ(d.outcome(1)->summary(), "550 5.1.1 no such user");
    EXPECT_EQ(d.outcome(2)->summary(), "451 4.2.1 <b@example.org> locked");
    EXPECT_EQ(d.outcome(3)->summary(), "552 5.2.2 <c@example.org> over quota");
    EXPECT_TRUE(d.delivered(0));
    EXPECT_FALSE(d.delivered(1));
    EXPECT_FALSE(d.delivered(2));
    EXPECT_FALSE(d.delivered(3));
    EXPECT_EQ(o.timers.back(), ClientEvent::Timer::data);
  }
}

TEST(ClientDialogue, LmtpServerClosingAfterTheDotLeavesTheRestWithoutOutcome) {
  auto c = opened_lmtp({"lmtp", "PIPELINING"});
  c.send(message({"a@example.org", "b@example.org"}));
  Canned server{{"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", "250 2.0.0 saved\r\n421 4.3.2 shutting down\r\n"}};
  auto o = run(c, server);
  EXPECT_EQ(o.end, Kind::failed);
  EXPECT_TRUE(c.delivery().delivered(0));
  EXPECT_FALSE(c.delivery().outcome(1).has_value());  // the host defers it
}

TEST(ClientDialogue, LmtpWithNoRecipientAcceptedSendsNoMessage) {
  auto c = opened_lmtp({"lmtp"});
  c.send(message({"a@example.org"}));
  Canned server{{"250 ok\r\n", "550 5.1.1 no\r\n", "250 flushed\r\n"}};
  auto o = run(c, server);
  ASSERT_EQ(o.end, Kind::done);
  EXPECT_EQ(o.writes.back(), "RSET\r\n");
  EXPECT_EQ(c.delivery().outcome(0)->code, 550);
}

TEST(ClientDialogue, VerifyAsksAboutRecipientsAndSendsNothing) {
  for (bool pipelining : {false, true}) {
    SCOPED_TRACE(pipelining ? "pipelining" : "one at a time");
    auto c = opened_lmtp(pipelining ? std::vector<std::string>{"lmtp", "PIPELINING"} : std::vector<std::string>{"lmtp"});
    Outbound m;
    m.recipients = {"nobody@example.org", "alice@example.org"};
    c.verify(m);
    Canned server = pipelining
        ? Canned{{"250 2.1.0 ok\r\n550 5.1.1 <nobody@example.org> User doesn't exist\r\n250 2.1.5 ok\r\n250 2.0.0 ok\r\n"}}
        : Canned{{"250 2.1.0 ok\r\n", "550 5.1.1 <nobody@example.org> User doesn't exist\r\n", "250 2.1.5 ok\r\n",
                  "250 2.0.0 ok\r\n"}};
    auto o = run(c, server);
    ASSERT_EQ(o.end, Kind::done);
    std::string all;
    for (auto& w : o.writes) all += w;
    EXPECT_EQ(all, "MAIL FROM:<>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<alice@example.org>\r\nRSET\r\n");
    EXPECT_EQ(c.delivery().rcpt[0]->summary(), "550 5.1.1 <nobody@example.org> User doesn't exist");
    EXPECT_EQ(c.delivery().rcpt[1]->code, 250);
    EXPECT_FALSE(c.delivery().data.has_value());
  }
}

}  // namespace
}  // namespace postern::smtp
