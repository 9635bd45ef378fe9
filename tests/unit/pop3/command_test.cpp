// parse_command() on a table of lines: what each becomes, and the -ERR
// for each malformed one.
#include <gtest/gtest.h>

#include "pop3/command.hpp"

using namespace postern::pop3;

namespace {

struct Case {
  std::string line;
  std::string want;  // "VERB arg #n lines" or "-ERR text"
};

std::string show(const Parsed& p) {
  if (auto* r = std::get_if<Reply>(&p)) return r->summary();
  const auto& c = std::get<Command>(p);
  std::string s(to_string(c.verb));
  if (!c.argument.empty()) s += " [" + c.argument + "]";
  if (c.number) s += " #" + std::to_string(*c.number);
  if (c.verb == Verb::top) s += " " + std::to_string(c.lines);
  return s;
}

}  // namespace

TEST(Pop3Command, Table) {
  const std::vector<Case> cases = {
      {"USER alice@example.org", "USER [alice@example.org]"},
      {"user alice", "USER [alice]"},
      {"USER", "-ERR Syntax: USER name"},
      {"USER a b", "-ERR Syntax: USER name"},
      {"PASS secret with spaces", "PASS [secret with spaces]"},
      {"PASS ", "PASS"},
      {"PASS", "-ERR Syntax: PASS password"},
      {"STAT", "STAT"},
      {"STAT 1", "-ERR Syntax: STAT"},
      {"LIST", "LIST"},
      {"LIST 2", "LIST #2"},
      {"LIST x", "-ERR Syntax: LIST [msg]"},
      {"LIST -1", "-ERR Syntax: LIST [msg]"},
      {"LIST 1234567890", "-ERR Syntax: LIST [msg]"},
      {"UIDL 3", "UIDL #3"},
      {"RETR", "-ERR Syntax: RETR msg"},
      {"RETR 1", "RETR #1"},
      {"RETR 1 2", "-ERR Syntax: RETR msg"},
      {"DELE 0", "DELE #0"},
      {"TOP 1 0", "TOP #1 0"},
      {"TOP 1", "-ERR Syntax: TOP msg n"},
      {"TOP 1 x", "-ERR Syntax: TOP msg n"},
      {"AUTH", "AUTH"},
      {"AUTH PLAIN AGEAYg==", "AUTH [PLAIN AGEAYg==]"},
      {"CAPA", "CAPA"},
      {"stls", "STLS"},
      {"QUIT", "QUIT"},
      {"NOOP", "NOOP"},
      {"RSET", "RSET"},
      {"APOP a b", "APOP [a b]"},
      {"", "-ERR Unknown command"},
      {"HELO x", "-ERR Unknown command"},
      {" USER a", "-ERR Unknown command"},
      {"USER\ta", "-ERR Unknown command"},
      {std::string("USER a\0b", 8), "-ERR NUL characters are not allowed"},
      {"USER " + std::string(250, 'a'), "-ERR Line too long"},
      {"AUTH PLAIN " + std::string(400, 'A'), "AUTH [PLAIN " + std::string(400, 'A') + "]"},
  };
  for (const auto& c : cases) EXPECT_EQ(show(parse_command(c.line)), c.want) << "line: " << c.line;
}

TEST(Pop3Command, KnownVerbNeverTellsArguments) {
  EXPECT_EQ(known_verb("PASS hunter2"), "PASS");
  EXPECT_EQ(known_verb("pass hunter2"), "PASS");
  EXPECT_EQ(known_verb("hunter2"), "");
}
