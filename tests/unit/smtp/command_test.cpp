#include "smtp/command.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace postern::smtp {
namespace {

std::string reply_of(std::string_view line) {
  auto p = parse_command(line);
  if (auto* r = std::get_if<Reply>(&p)) return r->summary();
  return "command";
}

Command command_of(std::string_view line) {
  auto p = parse_command(line);
  EXPECT_TRUE(std::holds_alternative<Command>(p)) << line << " -> " << reply_of(line);
  return std::holds_alternative<Command>(p) ? std::get<Command>(p) : Command{};
}

TEST(Command, Verbs) {
  struct Case {
    std::string line;
    Verb verb;
    std::string argument;
  };
  std::vector<Case> cases = {
      {"EHLO client.example.net", Verb::ehlo, "client.example.net"},
      {"ehlo  [127.0.0.1] ", Verb::ehlo, "[127.0.0.1]"},
      {"HELO x", Verb::helo, "x"},
      {"DATA", Verb::data, ""},
      {"rset", Verb::rset, ""},
      {"NOOP", Verb::noop, ""},
      {"NOOP anything at all", Verb::noop, "anything at all"},
      {"QUIT", Verb::quit, ""},
      {"VRFY alice", Verb::vrfy, "alice"},
      {"HELP", Verb::help, ""},
      {"STARTTLS", Verb::starttls, ""},
      {"AUTH PLAIN AGFsaWNlAHNlY3JldA==", Verb::auth, "PLAIN AGFsaWNlAHNlY3JldA=="},
  };
  for (const auto& c : cases) {
    auto cmd = command_of(c.line);
    EXPECT_EQ(cmd.verb, c.verb) << c.line;
    EXPECT_EQ(cmd.argument, c.argument) << c.line;
  }
}

TEST(Command, Errors) {
  struct Case {
    std::string line;
    std::string want;
  };
  std::vector<Case> cases = {
      {"", "500 5.5.2 Syntax error, command unrecognized"},
      {"XYZZY", "500 5.5.2 Syntax error, command unrecognized"},
      {"MAILFROM:<a@b.example>", "500 5.5.2 Syntax error, command unrecognized"},
      {std::string("NO\0OP", 5), "500 5.5.2 Syntax error, NUL characters are not allowed"},
      {"NOOP \x01", "501 5.5.2 Syntax error, control characters are not allowed"},
      {"EHLO", "501 5.5.4 Syntax: EHLO hostname"},
      {"EHLO   ", "501 5.5.4 Syntax: EHLO hostname"},
      {"DATA now", "501 5.5.4 Syntax: DATA takes no parameters"},
      {"QUIT x", "501 5.5.4 Syntax: QUIT takes no parameters"},
      {"STARTTLS x", "501 5.5.4 Syntax: STARTTLS takes no parameters"},
      {"VRFY", "501 5.5.4 Syntax: VRFY address"},
      {"AUTH", "501 5.5.4 Syntax: AUTH mechanism [initial-response]"},
      {"MAIL <a@b.example>", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:a@b.example", "501 5.1.7 Bad sender address syntax: Path must be enclosed in <>"},
      {"MAIL FROM:<a@b.example>SIZE=1", "501 5.5.4 Syntax: parameters must follow the address after a space"},
      {"MAIL FROM:<postmaster>", "501 5.1.7 Bad sender address syntax: Address must include a domain"},
      {"RCPT TO:<>", "501 5.1.3 Bad recipient address syntax: Null recipient not allowed"},
      {"RCPT TO:<a b@c.example>", "501 5.1.3 Bad recipient address syntax: Invalid local part"},
      {"MAIL FROM:<a@b.example> SIZE=abc", "501 5.5.4 Invalid parameter: SIZE needs a number"},
      {"MAIL FROM:<a@b.example> SIZE", "501 5.5.4 Invalid parameter: SIZE needs a number"},
      {"MAIL FROM:<a@b.example> SIZE=1 SIZE=2", "501 5.5.4 Invalid parameter: duplicate SIZE"},
      {"MAIL FROM:<a@b.example> BODY=BINARYMIME", "555 5.5.4 Unsupported BODY type"},
      {"MAIL FROM:<a@b.example> SMTPUTF8=yes", "501 5.5.4 Invalid parameter: SMTPUTF8 takes no value"},
      {"MAIL FROM:<a@b.example> AUTH=a+zz", "501 5.5.4 Invalid parameter: AUTH needs an xtext value"},
      {"MAIL FROM:<a@b.example> RET=HDRS", "555 5.5.4 Unsupported parameter RET"},
      {"MAIL FROM:<a@b.example> ENVID=x", "555 5.5.4 Unsupported parameter ENVID"},
      {"MAIL FROM:<a@b.example> X_Y=1", "501 5.5.4 Invalid parameter: malformed keyword"},
      {"MAIL FROM:<a@b.example> =1", "501 5.5.4 Invalid parameter: empty keyword"},
      {"MAIL FROM:<a@b.example> FOO=", "501 5.5.4 Invalid parameter: FOO needs a value"},
      {"RCPT TO:<a@b.example> NOTIFY=NEVER", "555 5.5.4 Unsupported parameter NOTIFY"},
      {"RCPT TO:<a@b.example> ORCPT=rfc822;a@b.example", "555 5.5.4 Unsupported parameter ORCPT"},
      {"MAIL FROM:<δ@example.org>", "553 5.6.7 Non-ASCII address requires SMTPUTF8"},
      {"BDAT", "501 5.5.4 Syntax: BDAT size [LAST]"},
      {"BDAT x", "501 5.5.4 Syntax: BDAT size [LAST]"},
      {"BDAT 10 FIRST", "501 5.5.4 Syntax: BDAT size [LAST]"},
      {"BDAT 10 LAST x", "501 5.5.4 Syntax: BDAT size [LAST]"},
      {"BDAT 99999999999999999999999", "501 5.5.4 Syntax: BDAT size [LAST]"},
      {"NOOP " + std::string(506, 'x'), "500 5.5.2 Line too long"},
      {std::string(600, 'x'), "500 5.5.2 Line too long"},
      {"MAIL FROM:<a@b.example> AUTH=" + std::string(1100, 'x'), "500 5.5.2 Line too long"},
      {"AUTH PLAIN " + std::string(12280, 'x'), "500 5.5.6 Authentication exchange line is too long"},
  };
  for (const auto& c : cases) EXPECT_EQ(reply_of(c.line), c.want) << "line: " << c.line.substr(0, 80);
}

TEST(Command, LineLimits) {
  // 512 octets with CRLF is the most a plain command may have.
  EXPECT_EQ(reply_of("NOOP " + std::string(506, 'x')), "500 5.5.2 Line too long");
  EXPECT_EQ(reply_of("NOOP " + std::string(505, 'x')), "command");
  // MAIL may carry its extensions (RFC 5321 §4.5.3.1.4): a long AUTH= fits.
  EXPECT_EQ(reply_of("MAIL FROM:<a@b.example> SIZE=100 AUTH=" + std::string(500, 'x')), "command");
  EXPECT_EQ(reply_of("AUTH PLAIN " + std::string(12000, 'x')), "command");
}

TEST(Command, MailAndRcpt) {
  auto mail = command_of("MAIL FROM:<alice@example.org> size=1000 BODY=8bitmime SMTPUTF8 AUTH=alice+40example.org");
  EXPECT_EQ(mail.verb, Verb::mail);
  EXPECT_EQ(mail.path.str(), "alice@example.org");
  EXPECT_EQ(mail.mail.size, 1000u);
  EXPECT_EQ(mail.mail.body, BodyType::eight_bit_mime);
  EXPECT_TRUE(mail.mail.smtputf8);
  EXPECT_EQ(mail.mail.auth, "alice@example.org");

  auto spaced = command_of("mail from: <>  BODY=7BIT");
  EXPECT_TRUE(spaced.path.null);
  EXPECT_EQ(spaced.mail.body, BodyType::seven_bit);

  auto huge = command_of("MAIL FROM:<a@b.example> SIZE=999999999999999999999999");
  EXPECT_EQ(huge.mail.size, std::numeric_limits<std::uint64_t>::max());

  auto utf8 = command_of("MAIL FROM:<δ@example.org> SMTPUTF8");
  EXPECT_TRUE(utf8.path.mailbox.utf8());

  auto rcpt = command_of("RCPT TO:<Postmaster>");
  EXPECT_TRUE(rcpt.path.postmaster);
  auto routed = command_of("RCPT TO:<@relay.example:bob@example.org>");
  EXPECT_EQ(routed.path.source_route.size(), 1u);
  auto quoted = command_of("RCPT TO:<\"bob@evil.example\"@example.org>");
  EXPECT_EQ(quoted.path.mailbox.local_part, "bob@evil.example");
}

TEST(Command, Bdat) {
  auto c = command_of("BDAT 1000");
  EXPECT_EQ(c.chunk_size, 1000u);
  EXPECT_FALSE(c.last_chunk);
  auto last = command_of("bdat 0 last");
  EXPECT_EQ(last.chunk_size, 0u);
  EXPECT_TRUE(last.last_chunk);
}

}  // namespace
}  // namespace postern::smtp
