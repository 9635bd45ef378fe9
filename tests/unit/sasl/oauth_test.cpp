#include "sasl/oauth.hpp"

#include <gtest/gtest.h>

namespace postern::sasl {
namespace {

using namespace std::string_literals;

class Fixed final : public TokenVerifier {
 public:
  explicit Fixed(TokenInfo info) : info_(std::move(info)) {}
  TokenInfo verify(std::string_view token) override {
    last = std::string(token);
    return info_;
  }
  std::string scope() const override { return "mail"; }
  std::string last;

 private:
  TokenInfo info_;
};

TEST(OAuth, ParsesRfc7628AndGmailMessages) {
  auto b = parse_oauth_initial(OAuthMechanism::oauthbearer,
                               "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
                               "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->user, "user@example.com");
  EXPECT_EQ(b->token, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
  auto x = parse_oauth_initial(OAuthMechanism::xoauth2, "user=someuser@example.com\x01" "auth=Bearer ya29.vF9\x01\x01");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->user, "someuser@example.com");
  EXPECT_EQ(x->token, "ya29.vF9");
  auto escaped = parse_oauth_initial(OAuthMechanism::oauthbearer, "n,a=a=2Cb=3Dc,\x01" "auth=Bearer t\x01\x01");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->user, "a,b=c");
  auto anonymous = parse_oauth_initial(OAuthMechanism::oauthbearer, "n,,\x01" "auth=Bearer t\x01\x01");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->user, "");
}

TEST(OAuth, RefusesMalformedMessages) {
  for (auto m : {"", "n,a=u,", "n,a=u,\x01" "auth=Bearer t\x01", "p=tls-unique,a=u,\x01" "auth=Bearer t\x01\x01",
                 "n,a=u=,\x01" "auth=Bearer t\x01\x01", "n,a=u,\x01" "auth=Basic dDp0\x01\x01",
                 "n,a=u,\x01" "auth=Bearer \x01\x01", "n,a=u,\x01" "auth=Bearer t\x01\x01trailing",
                 "n,a=u,\x01" "auth=Bearer t\x01" "auth=Bearer u\x01\x01", "n,u,\x01" "auth=Bearer t\x01\x01"})
    EXPECT_FALSE(parse_oauth_initial(OAuthMechanism::oauthbearer, m)) << m;
  EXPECT_FALSE(parse_oauth_initial(OAuthMechanism::xoauth2, "auth=Bearer t\x01\x01"));
  EXPECT_FALSE(parse_oauth_initial(OAuthMechanism::xoauth2, "user=\x01" "auth=Bearer t\x01\x01"));
}

TEST(OAuth, RedactsTheToken) {
  EXPECT_EQ(redact_oauth_token("user=u\x01" "auth=Bearer secret\x01\x01"), "user=u\x01" "auth=Bearer <redacted>\x01\x01");
  EXPECT_EQ(redact_oauth_token("no token"), "no token");
}

TEST(OAuth, ErrorJsonPerMechanism) {
  EXPECT_EQ(oauth_error_json(OAuthMechanism::oauthbearer, "mail"),
            R"({"status":"invalid_token","schemes":"bearer","scope":"mail"})");
  EXPECT_EQ(oauth_error_json(OAuthMechanism::xoauth2, ""), R"({"status":"401","schemes":"bearer"})");
}

TEST(OAuth, StepperOutcomes) {
  auto active = std::make_shared<Fixed>(TokenInfo{TokenInfo::State::active, "Alice@Example.org", {}});
  OAuthStepper ok(active);
  auto s = ok.begin(OAuthMechanism::xoauth2, "user=alice@example.org\x01" "auth=Bearer tok\x01\x01"s);
  EXPECT_EQ(s.status, OAuthStepper::Status::done);
  EXPECT_EQ(ok.identity(), "alice@example.org");
  EXPECT_EQ(active->last, "tok");

  OAuthStepper wrong(active);
  EXPECT_EQ(wrong.begin(OAuthMechanism::xoauth2, "user=bob@example.org\x01" "auth=Bearer tok\x01\x01"s).status,
            OAuthStepper::Status::failed);
  EXPECT_EQ(wrong.reason(), "wrong-user");

  OAuthStepper named_by_token(active);
  EXPECT_EQ(named_by_token.begin(OAuthMechanism::oauthbearer, "n,,\x01" "auth=Bearer tok\x01\x01"s).status,
            OAuthStepper::Status::done);
  EXPECT_EQ(named_by_token.identity(), "Alice@Example.org");

  OAuthStepper inactive(std::make_shared<Fixed>(TokenInfo{TokenInfo::State::inactive, {}, {}}));
  s = inactive.begin(OAuthMechanism::oauthbearer, "n,a=u,\x01" "auth=Bearer tok\x01\x01"s);
  ASSERT_EQ(s.status, OAuthStepper::Status::more);
  EXPECT_EQ(s.challenge, R"({"status":"invalid_token","schemes":"bearer","scope":"mail"})");
  EXPECT_EQ(inactive.step("\x01").status, OAuthStepper::Status::failed);
  EXPECT_EQ(inactive.reason(), "invalid-token");

  OAuthStepper down(std::make_shared<Fixed>(TokenInfo{TokenInfo::State::unavailable, {}, "timed out"}));
  EXPECT_EQ(down.begin(OAuthMechanism::xoauth2, "user=u\x01" "auth=Bearer tok\x01\x01"s).status,
            OAuthStepper::Status::temporary);
  EXPECT_EQ(down.detail(), "timed out");

  OAuthStepper later(active);
  s = later.begin(OAuthMechanism::xoauth2, std::nullopt);
  ASSERT_EQ(s.status, OAuthStepper::Status::more);
  EXPECT_EQ(s.challenge, "");
  EXPECT_EQ(later.step("user=alice@example.org\x01" "auth=Bearer tok\x01\x01"s).status, OAuthStepper::Status::done);
}

}  // namespace
}  // namespace postern::sasl
