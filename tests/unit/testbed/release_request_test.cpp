// Release bodies (POST /api/messages/{id}/release and Mailpit's form): what
// is taken, and every malformed body refused with a reason.
#include <gtest/gtest.h>

#include "testbed/release_api.hpp"

namespace postern::testbed {
namespace {

std::string refusal(const std::string& body, bool mailpit = false) {
  try {
    check_release_request(release_request_from_json(body, mailpit));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ReleaseRequest, Taken) {
  auto r = release_request_from_json(R"({"to": ["a@b.test", "c@d.test"], "server": "127.0.0.1:2525"})", false);
  EXPECT_EQ(r.to, (std::vector<std::string>{"a@b.test", "c@d.test"}));
  EXPECT_EQ(r.server, "127.0.0.1:2525");
  EXPECT_EQ(release_request_from_json(R"({"to": ["a@b.test"], "server": null})", false).server, "");
  EXPECT_EQ(refusal(R"({"to": ["a@b.test"], "server": "[::1]:25"})"), "");
  EXPECT_EQ(refusal(R"({"to": ["a@b.test"], "server": "mx.example"})"), "");
  // Mailpit's form; what else its clients send is ignored, as Mailpit does.
  EXPECT_EQ(release_request_from_json(R"({"To": ["x@y.test"], "Other": 1})", true).to,
            std::vector<std::string>{"x@y.test"});
}

TEST(ReleaseRequest, Refused) {
  EXPECT_NE(refusal("{"), "");
  EXPECT_NE(refusal("").find("not JSON"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["a@b.test"], "n": 1e999})").find("not JSON"), std::string::npos) << "found by fuzz_testbed_release";
  EXPECT_NE(refusal("[]").find("expected an object"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": []})").find("at least one"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": "a@b.test"})").find("array"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": [null]})").find("string"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["a b@c"]})").find("not a mail address"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["<a@b.test>"]})").find("not a mail address"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["a@b.test>x"]})").find("not a mail address"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": [""]})").find("not a mail address"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["@a,@b:c@d.test"]})").find("not a mail address"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["a@b.test"], "server": "h:0"})").find("server"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["a@b.test"], "server": "::1:25"})").find("server"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["a@b.test"], "server": ["h:25"]})").find("server"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["a@b.test"], "extra": 1})").find("unknown key"), std::string::npos);
  EXPECT_NE(refusal(R"({"to": ["a@b.test"]})", true).find("To"), std::string::npos) << "Mailpit's key is To";
  std::string many = R"({"to": [)";
  for (int i = 0; i < 101; ++i) many += std::string(i ? "," : "") + "\"a@b.test\"";
  EXPECT_NE(refusal(many + "]}").find("at most 100"), std::string::npos);
}

}  // namespace
}  // namespace postern::testbed

namespace postern::testbed {
namespace {

store::RecipientState state(store::RecipientStatus s, unsigned attempts, std::string reply, int at) {
  store::RecipientState r;
  r.address = "a@b.test";
  r.status = s;
  r.attempts = attempts;
  r.last_reply = std::move(reply);
  r.last_attempt = std::chrono::system_clock::time_point(std::chrono::seconds(at));
  r.next_attempt = std::chrono::system_clock::time_point(std::chrono::seconds(at + 60));
  return r;
}

TEST(ReleaseStatus, FromEachRecipient) {
  using S = store::RecipientStatus;
  Release r;
  r.recipients = {state(S::pending, 0, "", 0), state(S::pending, 0, "", 0)};
  EXPECT_EQ(r.status(), ReleaseStatus::queued);
  EXPECT_EQ(r.last_reply(), "");
  EXPECT_FALSE(r.next_attempt());
  r.recipients = {state(S::deferred, 2, "450 4.2.1 later", 10), state(S::delivered, 1, "250 ok", 5)};
  EXPECT_EQ(r.status(), ReleaseStatus::deferred);
  EXPECT_EQ(r.attempts(), 2u);
  EXPECT_EQ(r.last_reply(), "450 4.2.1 later");
  EXPECT_EQ(r.next_attempt(), std::chrono::system_clock::time_point(std::chrono::seconds(70)));
  r.recipients = {state(S::bounced, 1, "550 5.1.1 no", 20), state(S::delivered, 1, "250 ok", 5)};
  EXPECT_EQ(r.status(), ReleaseStatus::bounced);
  EXPECT_EQ(r.last_reply(), "550 5.1.1 no");
  r.recipients = {state(S::delivered, 3, "250 ok", 30), state(S::delivered, 1, "250 ok", 5)};
  EXPECT_EQ(r.status(), ReleaseStatus::delivered);
  EXPECT_EQ(to_string(r.status()), "delivered");
}

}  // namespace
}  // namespace postern::testbed
