#include "testbed/scenarios.hpp"

#include <gtest/gtest.h>

#include <typeinfo>

#include "testbed/messages.hpp"

namespace postern::testbed {
namespace {

using server::Stage;
using server::Verdict;

struct Fixture {
  Scenarios::Clock::time_point now{};
  Scenarios s{{}, true, [this] { return now; }};
  admission::SessionInfo session;
  admission::TransactionInfo tx;
  Fixture() {
    session.id = "s1";
    session.peer_address = "192.0.2.1";
    tx.reverse_path.mailbox.local_part = "app";
    tx.reverse_path.mailbox.domain = "example.com";
  }
  std::optional<Verdict> rcpt(const std::string& to) { return s.decide(Stage::rcpt, session, &tx, to); }
};

TEST(Scenarios, GreylistCountsDownThenPasses) {
  Fixture f;
  auto v = f.rcpt("greylist+10@x.test");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->reply.summary(), "450 4.2.0 Greylisted, try again in 10 seconds");
  f.now += std::chrono::milliseconds(3500);
  EXPECT_EQ(f.rcpt("greylist+10@x.test")->reply.summary(), "450 4.2.0 Greylisted, try again in 7 seconds");
  f.now += std::chrono::milliseconds(6500);
  EXPECT_EQ(f.rcpt("greylist+10@x.test")->action, Verdict::Action::accept);
  // Another triplet starts over; the default wait is 60 s.
  f.session.peer_address = "192.0.2.2";
  EXPECT_EQ(f.rcpt("GREYLIST@x.test")->reply.summary(), "450 4.2.0 Greylisted, try again in 60 seconds");
}

TEST(Scenarios, LockedKTimesPerTriplet) {
  Fixture f;
  EXPECT_EQ(f.rcpt("locked+2@x")->reply.code, 450);
  EXPECT_EQ(f.rcpt("locked+2@x")->reply.code, 450);
  EXPECT_EQ(f.rcpt("locked+2@x")->action, Verdict::Action::accept);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.rcpt("locked@x")->reply.code, 450) << "always";
}

TEST(Scenarios, FixedAndClosingReplies) {
  Fixture f;
  EXPECT_EQ(f.rcpt("full@x")->reply.summary(), "452 4.2.2 Mailbox full");
  EXPECT_EQ(f.rcpt("disabled@x")->reply.summary(), "550 5.2.1 Mailbox disabled");
  EXPECT_EQ(f.rcpt("unknown@x")->reply.summary(), "550 5.1.1 No such user");
  auto shut = f.rcpt("shutdown-after-rcpt@x");
  EXPECT_EQ(shut->action, Verdict::Action::shutdown);
  EXPECT_EQ(shut->reply.summary(), "421 4.3.2 Service shutting down");
  EXPECT_EQ(f.rcpt("drop-after-rcpt@x")->action, Verdict::Action::drop);
  EXPECT_EQ(f.rcpt("anyone@anywhere.example")->action, Verdict::Action::accept);
}

TEST(Scenarios, DataScenariosAndSlow) {
  Fixture f;
  f.tx.recipients = {"tempfail-data+1@x"};
  EXPECT_EQ(f.s.decide(Stage::dot, f.session, &f.tx, "")->reply.summary(), "451 4.3.0 Temporary failure, try again later");
  EXPECT_FALSE(f.s.decide(Stage::dot, f.session, &f.tx, "")) << "the retry passes";
  f.tx.recipients = {"ok@x", "reject-data@x"};
  EXPECT_EQ(f.s.decide(Stage::dot, f.session, &f.tx, "")->reply.summary(), "554 5.7.1 Message refused");
  f.tx.recipients = {"slow+3@x"};
  auto v = f.s.decide(Stage::data, f.session, &f.tx, "");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->delay, std::chrono::seconds(3));
  EXPECT_EQ(v->action, Verdict::Action::accept);
}

TEST(Scenarios, AuthUsers) {
  Fixture f;
  EXPECT_EQ(f.s.decide(Stage::auth, f.session, nullptr, "fail@x")->reply.code, 535);
  EXPECT_EQ(f.s.decide(Stage::auth, f.session, nullptr, "tempfail@x")->reply.code, 454);
  EXPECT_EQ(f.s.decide(Stage::auth, f.session, nullptr, "bob@x")->action, Verdict::Action::accept);
  Scenarios strict({}, false);
  EXPECT_FALSE(strict.decide(Stage::auth, f.session, nullptr, "bob@x")) << "configured users decide";
}

TEST(Scenarios, FirstMatchingRuleWinsTimesThenPass) {
  Fixture f;
  auto rules = rules_from_json(R"([{"command":"rcpt","to":"*@vip.test","reply":"451 4.3.2 Later","times":1},
                                   {"command":"RCPT","to":"*@vip.test","reply":"550 5.7.1 Never"}])");
  EXPECT_EQ(f.s.add_rules(rules), 1u);
  EXPECT_EQ(f.rcpt("a@VIP.test")->reply.summary(), "451 4.3.2 Later");
  EXPECT_EQ(f.rcpt("a@vip.test")->reply.summary(), "550 5.7.1 Never");
  EXPECT_EQ(f.rcpt("full@other.test")->reply.code, 452) << "address scenarios where no rule matches";
  f.s.clear_rules();
  EXPECT_EQ(f.rcpt("a@vip.test")->action, Verdict::Action::accept);
}

TEST(Scenarios, BadRulesAreRefusedWithTheReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"{", "not JSON"},
      {"42", "a rule is a JSON object"},
      {R"({"command":"HELO"})", "expected EHLO, STARTTLS, MAIL, RCPT, DATA, DOT or AUTH"},
      {R"({"command":"RCPT","reply":"hello"})", "expected a reply such as"},
      {R"({"command":"RCPT","reply":"450 4.0.0 a\u0007b"})", "control characters"},
      {R"({"command":"RCPT","action":"shutdown","reply":"450 4.0.0 x"})", "a shutdown replies 421"},
      {R"({"command":"RCPT","times":-1})", "times:"},
      {R"({"command":"RCPT","delay":"soon"})", "delay:"},
      {R"({"command":"RCPT","delay":"2h","reply":"450 4.0.0 x"})", "at most 1h"},
      {R"({"command":"RCPT","colour":"red"})", "unknown key"},
      {R"({"command":1})", "command: expected a string"},
      {R"({"command":"MAIL","reply":"250 2.1.0 custom ok"})", "MAIL rules reply 4xx or 5xx"},
      {R"({"command":"DATA","reply":"354 go on"})", "DATA rules reply 4xx or 5xx"},
      {R"({"command":"STARTTLS","reply":"220 2.0.0 Go ahead"})", "STARTTLS rules reply 4xx or 5xx"},
      {R"({"command":"RCPT","reply":"354 3.0.0 x"})", "RCPT rules reply 4xx or 5xx (or 2xx)"},
      {R"({"command":"AUTH","reply":"250 2.0.0 x"})", "AUTH rules reply 4xx or 5xx (or 235)"},
      {R"({"command":"RCPT","reply":"450 5.7.1 x"})", "an enhanced code of the same class"},
      {R"({"command":"RCPT","reply":"450"})", "an enhanced code of the same class"},
      {R"({"command":"RCPT","reply":"450 4.7 x"})", "an enhanced code of the same class"},
      {R"({"command":"RCPT"})", "reply is required"},
  };
  for (auto [json, why] : cases) {
    try {
      rules_from_json(json);
      ADD_FAILURE() << json << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << json << ": " << e.what();
    }
  }
  auto shutdown = rules_from_json(R"({"command":"MAIL","action":"shutdown"})");
  EXPECT_EQ(shutdown.at(0).reply, "421 4.3.2 Service shutting down") << "the default";
}

// A number no double holds made nlohmann's out_of_range escape the parser
// (found by the testbed_inputs fuzz target): one error type, always.
TEST(Scenarios, RulesParserThrowsOnlyInvalidArgument) {
  for (const char* json : {R"([{"command":33333333333333333e333elay2222333332222)", R"({"command":"RCPT","times":1e999})",
                           R"([{"command":"RCPT","reply":"450 4.0.0 x","times":-1e400}])", "[[[[[[[[[[[[[[]]]]]]]]]]]]]]",
                           "\"\\ud800\"", "{\"command\":\"RCPT\",\"times\":18446744073709551616}"}) {
    try {
      rules_from_json(json);
      ADD_FAILURE() << json << " was accepted";
    } catch (const std::invalid_argument&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << json << ": " << typeid(e).name() << ": " << e.what();
    }
  }
}

TEST(Scenarios, RuleFieldsAreBounded) {
  const std::string reply = "450 4.7.1 " + std::string(501, 'x');
  EXPECT_THROW(rules_from_json(R"({"command":"RCPT","reply":")" + reply + "\"}"), std::invalid_argument);
  EXPECT_NO_THROW(rules_from_json(R"({"command":"RCPT","reply":")" + reply.substr(0, 510) + "\"}"));
  EXPECT_THROW(rules_from_json(R"({"command":"RCPT","to":")" + std::string(513, '*') + R"(","reply":"450"})"),
               std::invalid_argument);
}

TEST(Scenarios, RuleCountIsCappedAndAnAddIsAllOrNothing) {
  Scenarios s({}, true);
  const auto one = rules_from_json(R"({"command":"EHLO","reply":"550 5.7.1 ok"})");
  std::vector<config::TestbedRule> many(Scenarios::max_rules - 1, one.at(0));
  EXPECT_EQ(s.add_rules(many), 1u);
  EXPECT_THROW(s.add_rules({one.at(0), one.at(0)}), TooManyRules);
  EXPECT_EQ(s.rules().size(), Scenarios::max_rules - 1) << "none of a refused add";
  EXPECT_EQ(s.add_rules(one), Scenarios::max_rules);
  EXPECT_THROW(s.add_rules(one), TooManyRules);
  s.clear_rules();
  EXPECT_EQ(s.add_rules(one), 1u);
}

TEST(Scenarios, TripletMemoryIsBounded) {
  Fixture f;
  EXPECT_EQ(f.rcpt("locked+1@first.test")->reply.code, 450);
  EXPECT_EQ(f.rcpt("locked+1@first.test")->action, Verdict::Action::accept);
  for (std::size_t i = 0; i < Scenarios::max_triplets; ++i) f.rcpt("locked+1@d" + std::to_string(i) + ".test");
  EXPECT_EQ(f.rcpt("locked+1@first.test")->reply.code, 450) << "past the cap every count starts over";
}

TEST(Scenarios, LocalScenarioParsing) {
  EXPECT_EQ(local_scenario("Greylist+30@x").name, "greylist");
  EXPECT_EQ(*local_scenario("greylist+30@x").number, 30);
  EXPECT_FALSE(local_scenario("greylist+abc@x").number);
  EXPECT_FALSE(local_scenario("greylist+99999999999999999999@x").number);
  EXPECT_EQ(local_scenario("plain").name, "plain");
}

TEST(Messages, MimePartsAndDecodedHeaders) {
  auto m = parse_message(
      "From: a@b\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"
      "--YY\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhi=20there\r\n"
      "--YY\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--YY--\r\n"
      "--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--XX--\r\n");
  EXPECT_EQ(m.subject, "Grüße");
  EXPECT_EQ(m.text, "hi there") << "the CRLF before a boundary is the boundary's";
  EXPECT_EQ(m.html, "<p>hi</p>");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].filename, "r.pdf");
  EXPECT_EQ(m.attachments[0].content_type, "application/pdf");
  EXPECT_EQ(m.attachments[0].size, 4u);
  EXPECT_EQ(parse_message("not a message at all").text, "");
}

}  // namespace
}  // namespace postern::testbed
