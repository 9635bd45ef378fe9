// The dialogue scripts (data/dialogues/*.dialogue) against the state
// machine alone, no sockets, as chasquid's .cmy tests and Postfix's
// smtpd_check scripts do. A script is rounds of client lines ("C: ",
// CRLF added) and the exact server lines that answer them ("S: ");
// consecutive C: lines go out together (pipelined). "M: " is the text of
// the message last accepted. In C: lines, \r \n \t \0 \\ and \xNN are
// bytes and {N*c} is N times c. Every round is fed whole, byte by byte,
// and split in two at every boundary, and must give the same replies
// each time (a round with STARTTLS is fed whole: what follows STARTTLS
// in it is what a client pipelined past the 220; so is every round under
// "set forbid_unauth_pipelining on").
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "scripted_host.hpp"
#include "smtp/dialogue.hpp"

using namespace postern::smtp;
namespace fs = std::filesystem;

namespace {

struct Round {
  std::string input;
  std::string expected;  // wire text
  std::optional<std::string> message;
  bool whole = false;
  int line = 0;  // in the script, for messages
};

std::string unescape(const std::string& text) {
  std::string expanded;
  static const std::regex repeat(R"(\{(\d+)\*(.)\})");
  std::sregex_iterator it(text.begin(), text.end(), repeat), end;
  std::size_t at = 0;
  for (; it != end; ++it) {
    expanded += text.substr(at, it->position() - at);
    expanded += std::string(std::stoul((*it)[1]), (*it)[2].str()[0]);
    at = it->position() + it->length();
  }
  expanded += text.substr(at);
  std::string out;
  for (std::size_t i = 0; i < expanded.size(); ++i) {
    if (expanded[i] != '\\' || i + 1 == expanded.size()) {
      out += expanded[i];
      continue;
    }
    char c = expanded[++i];
    if (c == 'r') {
      out += '\r';
    } else if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == '0') {
      out += '\0';
    } else if (c == 'x' && i + 2 < expanded.size()) {
      out += static_cast<char>(std::stoi(expanded.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

struct Script {
  DialogueSettings settings;
  std::vector<Round> rounds;
};

Script load(const fs::path& file) {
  Script s;
  s.settings.hostname = "mx.test";
  s.settings.max_message_size = 1000;
  s.settings.max_recipients = 3;
  s.settings.max_errors = 0;
  s.settings.starttls_offered = true;
  std::ifstream in(file);
  std::string line;
  int number = 0;
  bool in_replies = true;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    auto tag = line.substr(0, 3);
    auto rest = line.size() > 3 ? line.substr(3) : std::string();
    if (line.rfind("set ", 0) == 0) {
      std::istringstream words(line.substr(4));
      std::string key;
      std::string value;
      words >> key >> value;
      if (key == "max_message_size") s.settings.max_message_size = std::stoull(value);
      else if (key == "max_recipients") s.settings.max_recipients = std::stoul(value);
      else if (key == "max_errors") s.settings.max_errors = std::stoul(value);
      else if (key == "starttls") s.settings.starttls_offered = value == "on";
      else if (key == "forbid_unauth_pipelining") s.settings.forbid_unauth_pipelining = value == "on";
      else ADD_FAILURE() << file << ":" << number << ": unknown setting " << key;
    } else if (tag == "C: ") {
      if (in_replies || s.rounds.empty()) s.rounds.emplace_back().line = number;
      in_replies = false;
      s.rounds.back().input += unescape(rest) + "\r\n";
      if (rest.rfind("STARTTLS", 0) == 0) s.rounds.back().whole = true;
    } else if (tag == "S: ") {
      if (s.rounds.empty()) s.rounds.emplace_back().line = number;  // the greeting
      in_replies = true;
      s.rounds.back().expected += rest + "\r\n";
    } else if (tag == "M: ") {
      s.rounds.back().message = s.rounds.back().message.value_or("") + unescape(rest) + "\r\n";
    } else {
      ADD_FAILURE() << file << ":" << number << ": a line must start with C:, S:, M:, set or #";
    }
  }
  // What arrives together with the final dot decides there: rounds go whole.
  if (s.settings.forbid_unauth_pipelining)
    for (auto& r : s.rounds) r.whole = true;
  return s;
}

// One way of cutting a round's input into what arrives per read.
using Cut = std::vector<std::size_t>;  // the sizes of the pieces

struct Run {
  std::vector<std::string> outputs;   // per round
  std::vector<std::string> messages;  // per round: the last message accepted by then
};

Run play(const Script& script, const std::vector<Cut>& cuts) {
  SessionState session;
  ServerDialogue dialogue(script.settings, session);
  scripted::ScriptedHost host(dialogue);
  Run run;
  dialogue.greet();
  for (std::size_t r = 0; r < script.rounds.size(); ++r) {
    const auto& round = script.rounds[r];
    std::size_t at = 0;
    for (std::size_t n : cuts[r]) {
      if (!host.closed()) {
        dialogue.receive(std::string_view(round.input).substr(at, n));
        host.run();
      }
      at += n;
    }
    if (!host.closed()) host.run();
    run.outputs.push_back(host.take_output());
    run.messages.push_back(host.messages().empty() ? "" : host.messages().back());
  }
  return run;
}

std::vector<Cut> whole(const Script& s) {
  std::vector<Cut> cuts;
  for (auto& r : s.rounds) cuts.push_back(Cut{r.input.size()});
  return cuts;
}

// Every boundary of a round; in a long round (the 12288-octet AUTH
// lines), those near a line end or a limit and every 61st.
bool worth_splitting(const std::string& input, std::size_t k) {
  if (input.size() <= 4096 || k % 61 == 0) return true;
  for (std::size_t d = 0; d <= 4; ++d) {
    if (k + d < input.size() && input[k + d] == '\n') return true;
    if (k >= d && input[k - d] == '\n') return true;
  }
  for (std::size_t limit : {max_command_octets, max_auth_octets, max_any_line_octets})
    if (k + 4 >= limit && k <= limit + 4) return true;
  return false;
}

void check(const fs::path& file) {
  SCOPED_TRACE(file.filename().string());
  Script script = load(file);
  ASSERT_FALSE(script.rounds.empty());
  auto reference = play(script, whole(script));
  for (std::size_t r = 0; r < script.rounds.size(); ++r) {
    EXPECT_EQ(reference.outputs[r], script.rounds[r].expected) << "the round at line " << script.rounds[r].line;
    if (script.rounds[r].message) {
      EXPECT_EQ(reference.messages[r], *script.rounds[r].message) << "the message after line " << script.rounds[r].line;
    }
  }
  // Byte by byte, then split in two at every boundary, one round at a time.
  for (std::size_t r = 0; r < script.rounds.size(); ++r) {
    const auto& round = script.rounds[r];
    if (round.whole || round.input.empty()) continue;
    auto cuts = whole(script);
    cuts[r] = Cut(round.input.size(), 1);
    EXPECT_EQ(play(script, cuts).outputs, reference.outputs) << "byte by byte, the round at line " << round.line;
    for (std::size_t k = 1; k < round.input.size(); ++k) {
      if (!worth_splitting(round.input, k)) continue;
      cuts[r] = Cut{k, round.input.size() - k};
      auto split = play(script, cuts);
      EXPECT_EQ(split.outputs, reference.outputs) << "split after " << k << " octets, the round at line " << round.line;
      EXPECT_EQ(split.messages, reference.messages) << "split after " << k << " octets, the round at line " << round.line;
      if (split.outputs != reference.outputs) break;  // one report per round is enough
    }
  }
}

fs::path scripts_dir() {
  const char* data = std::getenv("POSTERN_TEST_DATA");
  return fs::path(data ? data : "data") / "dialogues";
}

}  // namespace

TEST(DialogueScripts, EveryScriptHoldsUnderEverySplit) {
  std::vector<fs::path> files;
  for (auto& entry : fs::directory_iterator(scripts_dir()))
    if (entry.path().extension() == ".dialogue") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u) << scripts_dir();
  for (auto& f : files) check(f);
}

// A script that expects the wrong reply must fail: the runner compares.
TEST(DialogueScripts, AWrongExpectationFails) {
  auto dir = fs::temp_directory_path() / ("dialogue-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto file = dir / "wrong.dialogue";
  std::ofstream(file) << "S: 220 mx.test ESMTP Postern\nC: NOOP\nS: 250 2.0.0 Not what it says\n";
  Script script = load(file);
  auto run = play(script, whole(script));
  EXPECT_NE(run.outputs[1], script.rounds[1].expected);
  fs::remove_all(dir);
}

// The host answers a question before next() is called again; forgetting
// to is a programming error, reported at once.
TEST(Dialogue, NextBeforeAnAnswerIsALogicError) {
  SessionState session;
  ServerDialogue d(DialogueSettings{.hostname = "mx.test", .max_message_size = 100, .max_recipients = 1}, session);
  d.receive("EHLO a\r\n");
  EXPECT_EQ(d.next().kind, Event::Kind::hello);
  EXPECT_EQ(d.phase(), ServerDialogue::Phase::deciding);
  EXPECT_THROW(d.next(), std::logic_error);
}

// The session state has one writer, the dialogue: EHLO names the client,
// STARTTLS forgets it, AUTH sets the identity.
TEST(Dialogue, SessionStateFollowsTheDialogue) {
  SessionState session;
  ServerDialogue d(DialogueSettings{.hostname = "mx.test", .max_message_size = 100, .max_recipients = 1,
                                    .starttls_offered = true},
                   session);
  scripted::ScriptedHost host(d);
  d.receive("EHLO client.example\r\n");
  host.run();
  EXPECT_EQ(session.helo, "client.example");
  EXPECT_TRUE(session.esmtp);
  d.receive("STARTTLS\r\n");
  host.run();
  EXPECT_TRUE(session.tls);
  EXPECT_EQ(session.helo, "");
  d.receive("EHLO client.example\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
  host.run();
  EXPECT_EQ(session.auth_identity, "user");
  EXPECT_EQ(d.state().authenticated, true);
}

// Line events come before the replies to the line (transcripts read in order).
TEST(Dialogue, ReportsEveryLineBeforeItsReply) {
  SessionState session;
  ServerDialogue d(DialogueSettings{.hostname = "mx.test", .max_message_size = 100, .max_recipients = 1,
                                    .report_lines = true},
                   session);
  d.receive("NOOP\r\nRSET\r\n");
  auto e = d.next();
  ASSERT_EQ(e.kind, Event::Kind::line);
  EXPECT_EQ(e.text, "NOOP");
  EXPECT_TRUE(d.replies().empty());
  EXPECT_EQ(d.next().kind, Event::Kind::flush);  // NOOP ends a pipelined group
  ASSERT_EQ(d.replies().size(), 1u);
  EXPECT_EQ(d.replies()[0].reply.code, 250);
  e = d.next();
  EXPECT_EQ(e.kind, Event::Kind::line);
  EXPECT_EQ(e.text, "RSET");
  EXPECT_EQ(d.next().kind, Event::Kind::need_input);  // RSET does not end a group
  EXPECT_EQ(d.replies().size(), 2u);
}

// A line that is no command is logged by its verb alone, and only when it
// is a verb: after a refused AUTH a client may send its base64 credentials
// anyway, or mistype "AUTHPLAIN <initial response>".
TEST(Dialogue, BadCommandsLogNoArguments) {
  SessionState session;
  ServerDialogue d(DialogueSettings{.hostname = "mx.test", .max_message_size = 100, .max_recipients = 1}, session);
  auto logged = [&](std::string_view line) {
    d.receive(std::string(line) + "\r\n");
    for (;;) {
      Event e = d.next();
      if (e.kind == Event::Kind::bad_command) {
        EXPECT_EQ(e.size, line.size());
        return e.text;
      }
      if (e.kind == Event::Kind::need_input) return std::string("(nothing)");
    }
  };
  EXPECT_EQ(logged("UzNjcmV0UGFzc3cwcmQ="), "(not a verb; not logged)");
  EXPECT_EQ(logged("aHVudGVy"), "(not a verb; not logged)");  // base64 of "hunter", letters only
  EXPECT_EQ(logged("AUTHPLAIN AHVzZXIAc2VjcmV0"), "(not a verb; not logged)");
  EXPECT_EQ(logged("AUTH"), "AUTH");
  EXPECT_EQ(logged("mail FROM:<no-bracket@example.org"), "MAIL");
  EXPECT_EQ(logged("GET /secret?token=abc HTTP/1.1"), "GET");
  EXPECT_EQ(logged("PASS hunter2"), "PASS");
}
