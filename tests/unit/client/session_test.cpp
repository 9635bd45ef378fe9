// Session against the scripted fake server: the dialogue the client writes,
// what it makes of each reply, and how it fails.
#include "client/session.hpp"

#include <gtest/gtest.h>

#include "fake_server.hpp"

using namespace postern::client;
using postern::client::testing::FakeServer;
using postern::client::testing::Script;

namespace {

struct Run {
  std::optional<Error> open_error;
  std::optional<Error> send_error;
  std::vector<Delivery> deliveries;
  std::vector<TranscriptLine> transcript;
  Capabilities caps;
};

Options options_for(const FakeServer& srv) {
  Options o;
  o.host = "127.0.0.1";
  o.port = srv.port();
  o.tls = TlsMode::automatic;
  o.helo_name = "client.example";
  o.command_timeout = std::chrono::seconds(5);
  o.data_timeout = std::chrono::seconds(5);
  return o;
}

// Opens a session and sends each transaction in turn on the same connection.
Run drive(asio::io_context& io, Options o, std::vector<Transaction> txs, bool quit = true) {
  Run run;
  o.transcript = [&run](const TranscriptLine& l) { run.transcript.push_back(l); };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Session s(io.get_executor(), o);
        run.open_error = co_await s.open();
        run.caps = s.capabilities();
        if (run.open_error) co_return;
        for (auto& t : txs) {
          Delivery d;
          run.send_error = co_await s.send(t, d);
          run.deliveries.push_back(d);
          if (run.send_error) co_return;
        }
        if (quit) co_await s.quit();
      },
      [&io](std::exception_ptr e) {
        io.stop();
        if (e) std::rethrow_exception(e);
      });
  io.run_for(std::chrono::seconds(20));
  return run;
}

Transaction simple(std::vector<std::string> rcpts = {"bob@example.org"}) {
  return Transaction{"alice@example.net", std::move(rcpts), "Subject: hi\n\nhello\n.leading dot\n"};
}

}  // namespace

TEST(Session, SendsOneMessageAndUnstuffsToTheOriginal) {
  asio::io_context io;
  FakeServer srv(io, Script{});
  auto run = drive(io, options_for(srv), {simple()});
  ASSERT_FALSE(run.open_error) << run.open_error->message;
  ASSERT_FALSE(run.send_error) << run.send_error->message;
  ASSERT_EQ(run.deliveries.size(), 1u);
  EXPECT_TRUE(run.deliveries[0].all_delivered());
  std::vector<std::string> want = {"EHLO client.example", "MAIL FROM:<alice@example.net>", "RCPT TO:<bob@example.org>",
                                   "DATA", "QUIT"};
  EXPECT_EQ(srv.commands, want);
  ASSERT_EQ(srv.messages.size(), 1u);
  EXPECT_EQ(srv.messages[0], "Subject: hi\r\n\r\nhello\r\n.leading dot\r\n");
}

TEST(Session, PipelinesMailRcptDataWhenOffered) {
  asio::io_context io;
  Script sc;
  sc.replies["EHLO"] = {"250-fake.example\r\n250-PIPELINING\r\n250 SIZE 1000000"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple({"a@example.org", "b@example.org"})});
  ASSERT_FALSE(run.send_error) << run.send_error->message;
  EXPECT_TRUE(run.deliveries[0].all_delivered());
  EXPECT_TRUE(run.caps.pipelining);
  // MAIL, RCPT, RCPT and DATA were all in the server's buffer before its first reply.
  ASSERT_GE(srv.batch_sizes.size(), 2u);
  EXPECT_EQ(srv.batch_sizes[1], 4u);
  EXPECT_EQ(srv.commands[1].rfind("MAIL FROM:<alice@example.net> SIZE=", 0), 0u) << srv.commands[1];
}

TEST(Session, FourFiftyThenTwoFiftyOnTheSameConnection) {
  asio::io_context io;
  Script sc;
  sc.replies["RCPT"] = {"450 4.2.0 Greylisted, try again in 2 seconds", "250 2.1.5 OK"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple(), simple()});
  ASSERT_FALSE(run.send_error) << run.send_error->message;
  ASSERT_EQ(run.deliveries.size(), 2u);
  auto first = run.deliveries[0].outcome(0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->code, 450);
  EXPECT_TRUE(first->temporary());
  EXPECT_FALSE(run.deliveries[0].delivered(0));
  EXPECT_TRUE(run.deliveries[1].delivered(0));
  EXPECT_EQ(srv.connections, 1);
  EXPECT_EQ(srv.messages.size(), 1u);
  // After the refused recipient the client reset the transaction.
  EXPECT_NE(std::find(srv.commands.begin(), srv.commands.end(), "RSET"), srv.commands.end());
}

TEST(Session, PermanentRefusalOfMailAppliesToEveryRecipient) {
  asio::io_context io;
  Script sc;
  sc.replies["MAIL"] = {"550 5.7.1 Sender rejected"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple({"a@example.org", "b@example.org"})});
  ASSERT_FALSE(run.send_error) << run.send_error->message;
  auto& d = run.deliveries[0];
  for (std::size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(d.outcome(i));
    EXPECT_EQ(d.outcome(i)->code, 550);
    EXPECT_EQ(d.outcome(i)->enhanced, "5.7.1");
  }
  EXPECT_TRUE(srv.messages.empty());
}

TEST(Session, PerRecipientResults) {
  asio::io_context io;
  Script sc;
  sc.replies["RCPT"] = {"550 5.1.1 No such user", "250 2.1.5 OK"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple({"nobody@example.org", "bob@example.org"})});
  ASSERT_FALSE(run.send_error) << run.send_error->message;
  auto& d = run.deliveries[0];
  EXPECT_FALSE(d.delivered(0));
  EXPECT_EQ(d.outcome(0)->code, 550);
  EXPECT_TRUE(d.delivered(1));
  EXPECT_EQ(d.outcome(1)->code, 250);
  EXPECT_FALSE(d.all_delivered());
  EXPECT_EQ(srv.messages.size(), 1u);
}

TEST(Session, PipelinedWithEveryRecipientRefused) {
  asio::io_context io;
  Script sc;
  sc.replies["EHLO"] = {"250-fake.example\r\n250 PIPELINING"};
  sc.replies["RCPT"] = {"550 5.1.1 No such user"};
  sc.replies["DATA"] = {"554 5.5.1 No valid recipients"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple(), simple()});
  ASSERT_FALSE(run.send_error) << run.send_error->message;
  EXPECT_EQ(run.deliveries[0].outcome(0)->code, 550);
  EXPECT_EQ(run.deliveries[0].data->code, 554);
  EXPECT_EQ(run.deliveries.size(), 2u);
  EXPECT_TRUE(srv.messages.empty());
}

TEST(Session, DroppedConnectionIsATemporaryError) {
  asio::io_context io;
  Script sc;
  sc.replies["DATA"] = {"DROP"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple()});
  ASSERT_TRUE(run.send_error);
  EXPECT_EQ(run.send_error->kind, Error::Kind::dropped);
  EXPECT_TRUE(run.send_error->temporary());
  EXPECT_FALSE(run.deliveries[0].delivered(0));
}

TEST(Session, MultiLineRepliesAndCapabilities) {
  asio::io_context io;
  Script sc;
  sc.greeting = "220-fake.example ESMTP\r\n220-second line\r\n220 third";
  sc.replies["EHLO"] = {"250-fake.example greets you\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n"
                        "250-AUTH=LOGIN CRAM-MD5\r\n250-SIZE 52428800\r\n250 ENHANCEDSTATUSCODES"};
  sc.replies["."] = {"250-2.0.0 Queued as ABC\r\n250 2.0.0 and more"};
  FakeServer srv(io, sc);
  Transaction t{"alice@example.net", {"bob@example.org"}, "Subject: caf\xc3\xa9\n\n\xc3\xa9t\xc3\xa9\n"};
  auto run = drive(io, options_for(srv), {t});
  ASSERT_FALSE(run.send_error) << run.send_error->message;
  EXPECT_TRUE(run.caps.eightbitmime);
  EXPECT_TRUE(run.caps.smtputf8);
  ASSERT_TRUE(run.caps.size);
  EXPECT_EQ(*run.caps.size, 52428800u);
  EXPECT_EQ(run.caps.auth, (std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"}));
  auto& data = *run.deliveries[0].data;
  EXPECT_EQ(data.code, 250);
  EXPECT_EQ(data.enhanced, "2.0.0");
  EXPECT_EQ(data.lines, (std::vector<std::string>{"Queued as ABC", "and more"}));
  // 8-bit body: BODY=8BITMIME; ASCII addresses: no SMTPUTF8.
  EXPECT_NE(srv.commands[1].find(" BODY=8BITMIME"), std::string::npos) << srv.commands[1];
  EXPECT_EQ(srv.commands[1].find("SMTPUTF8"), std::string::npos) << srv.commands[1];
}

TEST(Session, Utf8AddressNeedsSmtpUtf8) {
  {
    asio::io_context io;
    FakeServer srv(io, Script{});
    Transaction t{"alice@example.net", {"j\xc3\xb6rg@example.org"}, "Subject: x\n\nx\n"};
    auto run = drive(io, options_for(srv), {t});
    ASSERT_TRUE(run.send_error);
    EXPECT_EQ(run.send_error->kind, Error::Kind::unsupported);
    EXPECT_FALSE(run.send_error->temporary());
  }
  {
    asio::io_context io;
    Script sc;
    sc.replies["EHLO"] = {"250-fake.example\r\n250 SMTPUTF8"};
    FakeServer srv(io, sc);
    Transaction t{"alice@example.net", {"j\xc3\xb6rg@example.org"}, "Subject: x\n\nx\n"};
    auto run = drive(io, options_for(srv), {t});
    ASSERT_FALSE(run.send_error) << run.send_error->message;
    EXPECT_EQ(srv.commands[1], "MAIL FROM:<alice@example.net> SMTPUTF8");
  }
}

TEST(Session, MalformedReplyLinesAreProtocolErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not a reply", "malformed"},
      {"25", "malformed"},
      {"250-first\r\n251 changed code", "code changed"},
      {"999 nine", "malformed"},
      {"250x", "malformed"},
  };
  for (auto& [reply, want] : cases) {
    asio::io_context io;
    Script sc;
    sc.replies["MAIL"] = {reply};
    FakeServer srv(io, sc);
    auto run = drive(io, options_for(srv), {simple()});
    ASSERT_TRUE(run.send_error) << reply;
    EXPECT_EQ(run.send_error->kind, Error::Kind::protocol) << reply;
    EXPECT_NE(run.send_error->message.find(want), std::string::npos)
        << "reply " << reply << ": got \"" << run.send_error->message << "\", want it to mention " << want;
  }
}

TEST(Session, UnexpectedPositiveReplyIsAProtocolError) {
  asio::io_context io;
  Script sc;
  sc.replies["MAIL"] = {"354 what?"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple()});
  ASSERT_TRUE(run.send_error);
  EXPECT_EQ(run.send_error->kind, Error::Kind::protocol);
}

TEST(Session, GreetingRefused) {
  asio::io_context io;
  Script sc;
  sc.greeting = "554 5.3.2 No service";
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {});
  ASSERT_TRUE(run.open_error);
  EXPECT_EQ(run.open_error->kind, Error::Kind::reply);
  EXPECT_FALSE(run.open_error->temporary());
  EXPECT_EQ(run.open_error->reply->code, 554);
}

TEST(Session, ServiceClosingIsTemporary) {
  asio::io_context io;
  Script sc;
  sc.replies["RCPT"] = {"421 4.7.0 Try later, closing"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple()});
  ASSERT_TRUE(run.send_error);
  EXPECT_EQ(run.send_error->kind, Error::Kind::reply);
  EXPECT_TRUE(run.send_error->temporary());
}

TEST(Session, FallsBackToHelo) {
  asio::io_context io;
  Script sc;
  sc.replies["EHLO"] = {"502 5.5.2 Command not implemented"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {simple()});
  ASSERT_FALSE(run.open_error) << run.open_error->message;
  ASSERT_FALSE(run.send_error) << run.send_error->message;
  EXPECT_EQ(srv.commands[1], "HELO client.example");
  EXPECT_FALSE(run.caps.esmtp);
}

TEST(Session, ConnectionRefused) {
  asio::io_context io;
  std::string port;
  {
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = std::to_string(a.local_endpoint().port());
  }
  Options o;
  o.host = "127.0.0.1";
  o.port = port;
  auto run = drive(io, o, {});
  ASSERT_TRUE(run.open_error);
  EXPECT_EQ(run.open_error->kind, Error::Kind::refused);
  EXPECT_TRUE(run.open_error->temporary());
}

TEST(Session, SilentServerTimesOut) {
  asio::io_context io;
  Script sc;
  sc.replies["MAIL"] = {"SILENT"};
  FakeServer srv(io, sc);
  auto o = options_for(srv);
  o.command_timeout = std::chrono::seconds(1);
  auto start = std::chrono::steady_clock::now();
  auto run = drive(io, o, {simple()});
  ASSERT_TRUE(run.send_error);
  EXPECT_EQ(run.send_error->kind, Error::Kind::timeout);
  EXPECT_TRUE(run.send_error->temporary());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Session, StartTlsRequiredButNotOffered) {
  asio::io_context io;
  FakeServer srv(io, Script{});
  auto o = options_for(srv);
  o.tls = TlsMode::starttls;
  auto run = drive(io, o, {});
  ASSERT_TRUE(run.open_error);
  EXPECT_EQ(run.open_error->kind, Error::Kind::no_tls);
  EXPECT_FALSE(run.open_error->temporary());
}

TEST(Session, DataInjectedAfterStartTlsIsRefused) {
  asio::io_context io;
  Script sc;
  sc.replies["EHLO"] = {"250-fake.example\r\n250 STARTTLS"};
  sc.replies["STARTTLS"] = {"220 2.0.0 Ready\r\n250 injected"};
  FakeServer srv(io, sc);
  auto run = drive(io, options_for(srv), {});
  ASSERT_TRUE(run.open_error);
  EXPECT_EQ(run.open_error->kind, Error::Kind::protocol);
}

TEST(Session, TranscriptShowsBothDirections) {
  asio::io_context io;
  FakeServer srv(io, Script{});
  auto run = drive(io, options_for(srv), {simple()});
  ASSERT_FALSE(run.send_error);
  bool saw_greeting = false, saw_mail = false;
  for (auto& l : run.transcript) {
    if (l.direction == TranscriptLine::Direction::server && l.text == "220 fake.example ESMTP") saw_greeting = true;
    if (l.direction == TranscriptLine::Direction::client && l.text == "MAIL FROM:<alice@example.net>") saw_mail = true;
  }
  EXPECT_TRUE(saw_greeting);
  EXPECT_TRUE(saw_mail);
}

// ---------------------------------------------------------------- AUTH

namespace {

// A two-step mechanism: initial response "hello", then answers the
// server's one challenge with a secret, then expects a final challenge
// "ok" before it counts as complete.
class ToyMechanism : public SaslMechanism {
 public:
  std::string name() const override { return "X-TOY"; }
  bool client_first() const override { return true; }
  Step step(std::string_view challenge) override {
    Step s;
    ++calls;
    challenges.emplace_back(challenge);
    if (calls == 1) {
      s.output = "hello";
    } else if (calls == 2) {
      s.output = "secret-proof";
      s.secret = true;
      s.shown = "proof=<redacted>";
    } else if (challenge == "ok") {
      done = true;
      s.status = Step::Status::done;
    } else {
      s.status = Step::Status::failed;
      s.error = "server signature does not match";
    }
    return s;
  }
  bool complete() const override { return done; }
  int calls = 0;
  bool done = false;
  std::vector<std::string> challenges;
};

struct AuthRun {
  std::optional<Error> error;
  std::vector<TranscriptLine> transcript;
};

AuthRun drive_auth(asio::io_context& io, Options o, SaslMechanism& m, bool allow_cleartext = true) {
  AuthRun run;
  o.transcript = [&run](const TranscriptLine& l) { run.transcript.push_back(l); };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Session s(io.get_executor(), o);
        if (auto e = co_await s.open()) {
          run.error = e;
          co_return;
        }
        run.error = co_await s.authenticate(m, allow_cleartext);
        co_await s.quit();
      },
      [&io](std::exception_ptr e) {
        io.stop();
        if (e) std::rethrow_exception(e);
      });
  io.run_for(std::chrono::seconds(20));
  return run;
}

}  // namespace

TEST(SessionAuth, FullExchangeWithRedaction) {
  asio::io_context io;
  Script sc;
  sc.replies["AUTH"] = {"334 Y2hhbGxlbmdl"};                 // "challenge"
  sc.replies["RESPONSE"] = {"334 b2s=", "235 2.7.0 Authentication successful"};  // "ok"
  FakeServer srv(io, sc);
  ToyMechanism m;
  auto run = drive_auth(io, options_for(srv), m);
  ASSERT_FALSE(run.error) << run.error->message;
  EXPECT_EQ(m.challenges, (std::vector<std::string>{"", "challenge", "ok"}));
  EXPECT_EQ(srv.commands[1], "AUTH X-TOY aGVsbG8=");
  EXPECT_EQ(srv.commands[2], "c2VjcmV0LXByb29m");
  EXPECT_EQ(srv.commands[3], "");  // the answer to the final challenge is empty
  std::string all;
  for (auto& l : run.transcript) all += l.text + " | " + l.note + "\n";
  EXPECT_EQ(all.find("c2VjcmV0LXByb29m"), std::string::npos) << all;
  EXPECT_EQ(all.find("secret-proof"), std::string::npos) << all;
  EXPECT_NE(all.find("decoded: challenge"), std::string::npos) << all;
  EXPECT_NE(all.find("proof=<redacted>"), std::string::npos) << all;
}

TEST(SessionAuth, SuccessWithoutServerProofIsAFailure) {
  asio::io_context io;
  Script sc;
  sc.replies["AUTH"] = {"334 Y2hhbGxlbmdl"};
  sc.replies["RESPONSE"] = {"235 2.7.0 Authentication successful"};
  FakeServer srv(io, sc);
  ToyMechanism m;
  auto run = drive_auth(io, options_for(srv), m);
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->kind, Error::Kind::auth);
}

TEST(SessionAuth, BadServerSignatureCancels) {
  asio::io_context io;
  Script sc;
  sc.replies["AUTH"] = {"334 Y2hhbGxlbmdl"};
  sc.replies["RESPONSE"] = {"334 YmFk", "501 5.7.0 Authentication cancelled"};  // "bad"
  FakeServer srv(io, sc);
  ToyMechanism m;
  auto run = drive_auth(io, options_for(srv), m);
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->kind, Error::Kind::auth);
  EXPECT_NE(run.error->message.find("signature"), std::string::npos);
  EXPECT_NE(std::find(srv.commands.begin(), srv.commands.end(), "*"), srv.commands.end());
}

TEST(SessionAuth, RejectedCredentials) {
  asio::io_context io;
  Script sc;
  sc.replies["AUTH"] = {"535 5.7.8 Authentication credentials invalid"};
  FakeServer srv(io, sc);
  ToyMechanism m;
  auto run = drive_auth(io, options_for(srv), m);
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->kind, Error::Kind::auth);
  ASSERT_TRUE(run.error->reply);
  EXPECT_EQ(run.error->reply->code, 535);
  EXPECT_FALSE(run.error->temporary());
}

TEST(SessionAuth, BadBase64ChallengeCancels) {
  asio::io_context io;
  Script sc;
  sc.replies["AUTH"] = {"334 !!!not-base64"};
  sc.replies["RESPONSE"] = {"501 5.7.0 Authentication cancelled"};
  FakeServer srv(io, sc);
  ToyMechanism m;
  auto run = drive_auth(io, options_for(srv), m);
  ASSERT_TRUE(run.error);
  EXPECT_NE(std::find(srv.commands.begin(), srv.commands.end(), "*"), srv.commands.end());
}

TEST(SessionAuth, NoCredentialsWithoutTls) {
  asio::io_context io;
  FakeServer srv(io, Script{});
  ToyMechanism m;
  auto run = drive_auth(io, options_for(srv), m, /*allow_cleartext=*/false);
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->kind, Error::Kind::cleartext);
  EXPECT_EQ(m.calls, 0);
  for (auto& c : srv.commands) EXPECT_NE(c.rfind("AUTH", 0), 0u) << c;
}
