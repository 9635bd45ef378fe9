#include "sasl/auth_line.hpp"

#include <gtest/gtest.h>

namespace postern::sasl {
namespace {

TEST(AuthLine, ParsesMechanismAndInitialResponse) {
  auto r = parse_auth_command("PLAIN AGFsaWNlAHNlY3JldA==");
  ASSERT_TRUE(std::holds_alternative<AuthCommand>(r));
  auto& c = std::get<AuthCommand>(r);
  EXPECT_EQ(c.mechanism, "PLAIN");
  ASSERT_TRUE(c.initial_response);
  EXPECT_EQ(*c.initial_response, "AGFsaWNlAHNlY3JldA==");

  r = parse_auth_command("scram-sha-256");
  ASSERT_TRUE(std::holds_alternative<AuthCommand>(r));
  EXPECT_EQ(std::get<AuthCommand>(r).mechanism, "scram-sha-256");
  EXPECT_FALSE(std::get<AuthCommand>(r).initial_response);

  r = parse_auth_command("LOGIN ");  // trailing space tolerated
  ASSERT_TRUE(std::holds_alternative<AuthCommand>(r));
}

TEST(AuthLine, RejectsBadSyntax) {
  struct Case {
    const char* in;
    AuthSyntaxError want;
  } cases[] = {
      {"", AuthSyntaxError::missing_mechanism},
      {"   ", AuthSyntaxError::missing_mechanism},
      {"PL@IN", AuthSyntaxError::bad_mechanism},
      {"ABCDEFGHIJKLMNOPQRSTU", AuthSyntaxError::bad_mechanism},  // 21 characters
      {" PLAIN", AuthSyntaxError::bad_mechanism},
      {"PLAIN a b", AuthSyntaxError::extra_arguments},
      {"PLAIN  abc", AuthSyntaxError::extra_arguments},
  };
  for (const auto& c : cases) {
    auto r = parse_auth_command(c.in);
    ASSERT_TRUE(std::holds_alternative<AuthSyntaxError>(r)) << "accepted \"" << c.in << "\"";
    EXPECT_EQ(static_cast<int>(std::get<AuthSyntaxError>(r)), static_cast<int>(c.want)) << c.in;
  }
}

TEST(AuthLine, DecodesResponses) {
  EXPECT_TRUE(std::holds_alternative<Cancelled>(decode_response("*")));
  EXPECT_TRUE(std::holds_alternative<BadBase64>(decode_response("**")));
  EXPECT_TRUE(std::holds_alternative<BadBase64>(decode_response("=")));  // only valid as an initial response
  EXPECT_TRUE(std::holds_alternative<BadBase64>(decode_response("Zm9v!")));
  ASSERT_TRUE(std::holds_alternative<std::string>(decode_response("")));
  EXPECT_EQ(std::get<std::string>(decode_response("")), "");
  EXPECT_EQ(std::get<std::string>(decode_response("Zm9v")), "foo");

  ASSERT_TRUE(std::holds_alternative<std::string>(decode_initial_response("=")));
  EXPECT_EQ(std::get<std::string>(decode_initial_response("=")), "");
  EXPECT_TRUE(std::holds_alternative<Cancelled>(decode_initial_response("*")));
  EXPECT_TRUE(std::holds_alternative<BadBase64>(decode_initial_response("")));
  EXPECT_TRUE(std::holds_alternative<BadBase64>(decode_initial_response("==")));

  EXPECT_EQ(encode_response("", true), "=");
  EXPECT_EQ(encode_response("", false), "");
  EXPECT_EQ(encode_response("foo", true), "Zm9v");
}

TEST(AuthLine, MailAuthParameter) {
  struct Case {
    const char* in;
    const char* want;  // nullptr: rejected
  } cases[] = {
      {"<>", ""},
      {"alice@example.org", "alice@example.org"},
      {"e+3Dmc2@example.com", "e=mc2@example.com"},
      {"a+2Bb@example.org", "a+b@example.org"},
      {"", nullptr},
      {"a+2", nullptr},
      {"a+zz@x", nullptr},
      {"a+2b@x", nullptr},  // lower-case hex is not xtext
      {"a=b@x", nullptr},
      {"a b", nullptr},
      {"a+0A@x", nullptr},  // decodes to a control byte
  };
  for (const auto& c : cases) {
    auto got = parse_mail_auth_parameter(c.in);
    if (c.want == nullptr) {
      EXPECT_FALSE(got) << "accepted \"" << c.in << "\"";
    } else {
      ASSERT_TRUE(got) << "rejected \"" << c.in << "\"";
      EXPECT_EQ(*got, c.want);
    }
  }
  EXPECT_EQ(encode_mail_auth_parameter("e=mc2+x@example.com"), "e+3Dmc2+2Bx@example.com");
  EXPECT_EQ(encode_mail_auth_parameter(""), "<>");
  EXPECT_EQ(*parse_mail_auth_parameter(encode_mail_auth_parameter("a=b+c@d")), "a=b+c@d");
}

}  // namespace
}  // namespace postern::sasl
