// The rule keys rate, throttle and command STARTTLS (SPEC §10): their
// values, their checks, and what the scenarios decide with them.
#include <gtest/gtest.h>

#include "testbed/scenarios.hpp"

namespace postern::testbed {
namespace {

using server::Stage;
using server::Verdict;

std::string refusal(const std::string& json) {
  try {
    rules_from_json(json);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(RuleKeys, RateValues) {
  EXPECT_EQ(config::parse_rate("5/1m"), std::make_pair(5u, config::Duration(std::chrono::minutes(1))));
  EXPECT_EQ(config::parse_rate("5/m"), std::make_pair(5u, config::Duration(std::chrono::minutes(1))));
  EXPECT_EQ(config::parse_rate("100/10s"), std::make_pair(100u, config::Duration(std::chrono::seconds(10))));
  EXPECT_EQ(config::parse_rate("0/1h").first, 0u);
  for (const char* bad : {"", "5", "/1m", "x/1m", "-1/1m", "5/", "5/0s", "5/2d", "5/soon", "5 /1m", "1000001/1m",
                          "99999999999999999999/1m"})
    EXPECT_THROW(config::parse_rate(bad), std::invalid_argument) << bad;
  EXPECT_EQ(config::format_rate(5, std::chrono::minutes(1)), "5/1m");
  EXPECT_EQ(config::format_rate(0, config::Duration(0)), "");
}

TEST(RuleKeys, ThrottleValues) {
  EXPECT_EQ(config::parse_throttle("1000/s"), 1000u);
  EXPECT_EQ(config::parse_throttle("10K/s"), 10240u);
  EXPECT_EQ(config::parse_throttle("1M/s"), 1u << 20);
  for (const char* bad : {"", "/s", "1000", "1000/m", "0/s", "2G/s", "fast/s", "-5/s", "10 K/s"})
    EXPECT_THROW(config::parse_throttle(bad), std::invalid_argument) << bad;
  EXPECT_EQ(config::format_throttle(1000), "1000/s");
}

TEST(RuleKeys, JsonRulesRefuseBadValuesClearly) {
  EXPECT_NE(refusal(R"({"command":"MAIL","rate":"lots","reply":"421 4.7.0 x"})").find("rate \"lots\": expected \"N/DURATION\""),
            std::string::npos);
  EXPECT_NE(refusal(R"({"command":"MAIL","rate":5,"reply":"421 4.7.0 x"})").find("rate: expected a string"), std::string::npos);
  EXPECT_NE(refusal(R"({"command":"DATA","throttle":"fast"})").find("throttle \"fast\""), std::string::npos);
  EXPECT_NE(refusal(R"({"command":"DATA","throttle":1000})").find("throttle: expected a string"), std::string::npos);
  EXPECT_NE(refusal(R"({"command":"RCPT","throttle":"1000/s"})").find("only with command \"DATA\""), std::string::npos);
  EXPECT_NE(refusal(R"({"command":"DATA","throttle":"1000/s","reply":"250 ok"})").find("give no reply"), std::string::npos);
  EXPECT_NE(refusal(R"({"command":"STARTTLSX","reply":"454 4.7.0 x"})").find("STARTTLS"), std::string::npos);
  EXPECT_EQ(refusal(R"({"command":"starttls","reply":"454 4.7.0 TLS not available"})"), "");
  EXPECT_EQ(refusal(R"({"command":"DATA","throttle":"1K/s"})"), "");
  const auto r = rules_from_json(R"({"command":"MAIL","rate":"5/1m","reply":"421 4.7.0 Too many"})");
  EXPECT_EQ(r.at(0).rate_count, 5u);
  EXPECT_EQ(r.at(0).rate_window, config::Duration(std::chrono::minutes(1)));
}

struct Fixture {
  Scenarios::Clock::time_point now{};
  std::unique_ptr<Scenarios> s;
  admission::SessionInfo session;
  admission::TransactionInfo tx;
  explicit Fixture(const std::string& rules) {
    s = std::make_unique<Scenarios>(rules_from_json(rules), true, [this] { return now; });
    session.peer_address = "192.0.2.1";
    tx.reverse_path.mailbox.local_part = "app";
    tx.reverse_path.mailbox.domain = "example.com";
  }
  std::optional<Verdict> mail() { return s->decide(Stage::mail, session, nullptr, "app@example.com"); }
};

TEST(RuleKeys, RateAppliesOnlyPastNWithinTheWindowPerClient) {
  Fixture f(R"({"command":"MAIL","rate":"3/1m","reply":"421 4.7.0 Too many messages, slow down"})");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.mail()->action, Verdict::Action::accept) << i;
  auto v = f.mail();
  EXPECT_EQ(v->reply.summary(), "421 4.7.0 Too many messages, slow down");
  EXPECT_NE(v->cause.find("over 3/1m"), std::string::npos) << v->cause;
  EXPECT_EQ(f.mail()->reply.code, 421);
  // Another client has a window of its own.
  f.session.peer_address = "192.0.2.2";
  EXPECT_EQ(f.mail()->action, Verdict::Action::accept);
  // Once the window has passed, the first client is under the rate again.
  f.session.peer_address = "192.0.2.1";
  f.now += std::chrono::seconds(61);
  EXPECT_EQ(f.mail()->action, Verdict::Action::accept);
  f.now += std::chrono::seconds(1);
  EXPECT_EQ(f.mail()->action, Verdict::Action::accept);
  f.now += std::chrono::seconds(1);
  EXPECT_EQ(f.mail()->action, Verdict::Action::accept);
  EXPECT_EQ(f.mail()->reply.code, 421);
}

TEST(RuleKeys, ThrottleAcceptsDataWithAPace) {
  Fixture f(R"({"command":"DATA","throttle":"2K/s"})");
  auto v = f.s->decide(Stage::data, f.session, &f.tx, "");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->action, Verdict::Action::accept);
  EXPECT_EQ(v->throttle, 2048u);
  EXPECT_FALSE(f.s->decide(Stage::dot, f.session, &f.tx, "")) << "after the dot, nothing";
}

TEST(RuleKeys, StarttlsRule) {
  Fixture f(R"({"command":"STARTTLS","reply":"454 4.7.0 TLS not available due to temporary reason","times":1})");
  auto v = f.s->decide(Stage::starttls, f.session, nullptr, "");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->reply.summary(), "454 4.7.0 TLS not available due to temporary reason");
  EXPECT_FALSE(f.s->decide(Stage::starttls, f.session, nullptr, "")) << "only the first time";
}

}  // namespace
}  // namespace postern::testbed
