// The OAuth 2.0 client steppers: the exact initial responses (RFC 7628 §3.1
// for OAUTHBEARER, Google's XOAUTH2), the answer to a refusal (^A / empty),
// the JSON error decoded in both dialects, and the token kept out of
// what a transcript shows.
#include <gtest/gtest.h>

#include "sasl/oauth_client.hpp"

namespace postern::sasl {
namespace {

using S = OAuthClientStepper::Status;

TEST(OAuthClient, OauthbearerInitialResponse) {
  OAuthClientStepper c(OAuthMechanism::oauthbearer, "user@example.com", "vF9dft4qmT", "server.example.com", 587);
  EXPECT_FALSE(c.invalid());
  // RFC 7628 §4.1's example, with the port we connect to.
  EXPECT_EQ(c.initial_response(),
            "n,a=user@example.com,\x01host=server.example.com\x01port=587\x01"
            "auth=Bearer vF9dft4qmT\x01\x01");
}

TEST(OAuthClient, OauthbearerEscapesTheAuthzid) {
  OAuthClientStepper c(OAuthMechanism::oauthbearer, "a=b,c@example.com", "t", "", 0);
  EXPECT_EQ(c.initial_response(), "n,a=a=3Db=2Cc@example.com,\x01" "auth=Bearer t\x01\x01");
}

TEST(OAuthClient, Xoauth2InitialResponse) {
  OAuthClientStepper c(OAuthMechanism::xoauth2, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
                       "smtp.gmail.com", 587);
  EXPECT_EQ(c.initial_response(),
            "user=someuser@example.com\x01" "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01");
}

TEST(OAuthClient, ShownFormHidesTheToken) {
  OAuthClientStepper c(OAuthMechanism::xoauth2, "u@example.com", "SECRET-TOKEN");
  EXPECT_EQ(c.shown_initial(), "user=u@example.com^Aauth=Bearer <redacted>^A^A");
  OAuthClientStepper b(OAuthMechanism::oauthbearer, "u@example.com", "SECRET-TOKEN", "h", 25);
  EXPECT_EQ(b.shown_initial().find("SECRET"), std::string::npos);
}

TEST(OAuthClient, GmailRefusalAnsweredWithAnEmptyResponse) {
  OAuthClientStepper c(OAuthMechanism::xoauth2, "u@gmail.com", "expired");
  auto s = c.step(R"({"status":"401","schemes":"bearer","scope":"https://mail.google.com/"})");
  EXPECT_EQ(s.status, S::refused);
  EXPECT_EQ(s.response, "");
  EXPECT_EQ(s.error, "status 401, schemes bearer, scope https://mail.google.com/");
  ASSERT_TRUE(c.server_error());
  EXPECT_EQ(c.server_error()->status, "401");
  // A second challenge after the refusal is not part of the mechanism.
  EXPECT_EQ(c.step("{}").status, S::failed);
}

TEST(OAuthClient, Rfc7628RefusalAnsweredWithKvsep) {
  OAuthClientStepper c(OAuthMechanism::oauthbearer, "u@example.com", "bad", "h", 25);
  auto s = c.step(R"({"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"})");
  EXPECT_EQ(s.status, S::refused);
  EXPECT_EQ(s.response, "\x01");
  EXPECT_EQ(s.error,
            "status invalid_token, scope example_scope, openid-configuration "
            "https://example.com/.well-known/openid-configuration");
}

TEST(OAuthClient, ErrorThatIsNotJsonIsShownPrintable) {
  auto e = parse_oauth_error("not json\x1b[31m");
  EXPECT_TRUE(e.status.empty());
  EXPECT_EQ(e.summary().find('\x1b'), std::string::npos);
  EXPECT_NE(e.summary().find("not json"), std::string::npos);
  EXPECT_EQ(parse_oauth_error("[1,2]").status, "");
  EXPECT_EQ(parse_oauth_error(R"({"status":401})").status, "401");  // a number is shown as written
  EXPECT_EQ(parse_oauth_error("").summary(), "(no details)");
}

TEST(OAuthClient, TokensThatWouldBreakTheFramingAreRefused) {
  EXPECT_TRUE(OAuthClientStepper(OAuthMechanism::xoauth2, "u", "").invalid());
  EXPECT_TRUE(OAuthClientStepper(OAuthMechanism::xoauth2, "u", "a\x01" "b").invalid());
  EXPECT_TRUE(OAuthClientStepper(OAuthMechanism::xoauth2, "u", "a b").invalid());
  EXPECT_TRUE(OAuthClientStepper(OAuthMechanism::xoauth2, "", "t").invalid());
  EXPECT_TRUE(OAuthClientStepper(OAuthMechanism::oauthbearer, "u\x01", "t").invalid());
  EXPECT_FALSE(OAuthClientStepper(OAuthMechanism::oauthbearer, "u@example.com", "eyJhbGciOi.J9-_~+/x==").invalid());
}

TEST(OAuthClient, MechanismNamesAndChoice) {
  EXPECT_EQ(parse_oauth_mechanism("oauthbearer"), OAuthMechanism::oauthbearer);
  EXPECT_EQ(parse_oauth_mechanism("XOAUTH2"), OAuthMechanism::xoauth2);
  EXPECT_FALSE(parse_oauth_mechanism("XOAUTH"));
  EXPECT_FALSE(parse_oauth_mechanism("PLAIN"));
  // Gmail offers both: the standard one wins; Microsoft 365 offers XOAUTH2 only.
  EXPECT_EQ(choose_oauth_mechanism({"LOGIN", "PLAIN", "XOAUTH2", "PLAIN-CLIENTTOKEN", "OAUTHBEARER", "XOAUTH"}),
            OAuthMechanism::oauthbearer);
  EXPECT_EQ(choose_oauth_mechanism({"LOGIN", "XOAUTH2"}), OAuthMechanism::xoauth2);
  EXPECT_FALSE(choose_oauth_mechanism({"PLAIN", "LOGIN"}));
}

}  // namespace
}  // namespace postern::sasl
