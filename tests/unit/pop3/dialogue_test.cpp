// The POP3 dialogue scripts (data/dialogues/*.dialogue) against the state
// machine alone, no sockets, as the SMTP scripts do (tests/unit/smtp). A
// script is rounds of client lines ("C: ", CRLF added) and the exact
// server lines that answer them ("S: "); consecutive C: lines go out
// together (pipelined). "R: uid ..." lists what the maildrop was told to
// remove by the end. In C: lines, \r \n \t \0 \\ and \xNN are bytes and
// {N*c} is N times c. Every round is fed whole, byte by byte and split in
// two at every boundary, and must give the same replies each time (a round
// with STLS is fed whole: what follows STLS in it was pipelined past it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "pop3/dialogue.hpp"
#include "scripted_host.hpp"

using namespace postern::pop3;
namespace fs = std::filesystem;

namespace {

struct Round {
  std::string input;
  std::string expected;
  bool whole = false;
  int line = 0;
};

struct Script {
  DialogueSettings settings;
  std::vector<Round> rounds;
  std::optional<std::string> removed;  // "m1 m3"
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
    if (c == 'r') out += '\r';
    else if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == '0') out += '\0';
    else if (c == 'x' && i + 2 < expanded.size()) {
      out += static_cast<char>(std::stoi(expanded.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

Script load(const fs::path& file) {
  Script s;
  s.settings.hostname = "pop.test";
  s.settings.stls_offered = true;
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
      std::string key, value;
      words >> key >> value;
      if (key == "max_errors") s.settings.max_errors = std::stoul(value);
      else if (key == "stls") s.settings.stls_offered = value == "on";
      else ADD_FAILURE() << file << ":" << number << ": unknown setting " << key;
    } else if (tag == "C: ") {
      if (in_replies || s.rounds.empty()) s.rounds.emplace_back().line = number;
      in_replies = false;
      s.rounds.back().input += unescape(rest) + "\r\n";
      if (rest.rfind("STLS", 0) == 0) s.rounds.back().whole = true;
    } else if (tag == "S: " || line == "S:") {
      if (s.rounds.empty()) s.rounds.emplace_back().line = number;  // the greeting
      in_replies = true;
      s.rounds.back().expected += rest + "\r\n";
    } else if (tag == "R: ") {
      s.removed = rest;
    } else {
      ADD_FAILURE() << file << ":" << number << ": a line must start with C:, S:, R:, set or #";
    }
  }
  return s;
}

using Cut = std::vector<std::size_t>;

struct Run {
  std::vector<std::string> outputs;
  std::string removed;
};

Run play(const Script& script, const std::vector<Cut>& cuts) {
  Dialogue dialogue(script.settings);
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
  }
  for (const auto& u : host.removed()) run.removed += (run.removed.empty() ? "" : " ") + u;
  return run;
}

std::vector<Cut> whole(const Script& s) {
  std::vector<Cut> cuts;
  for (auto& r : s.rounds) cuts.push_back(Cut{r.input.size()});
  return cuts;
}

bool worth_splitting(const std::string& input, std::size_t k) {
  if (input.size() <= 2048 || k % 61 == 0) return true;
  for (std::size_t d = 0; d <= 4; ++d) {
    if (k + d < input.size() && input[k + d] == '\n') return true;
    if (k >= d && input[k - d] == '\n') return true;
  }
  return false;
}

void check(const fs::path& file) {
  SCOPED_TRACE(file.filename().string());
  Script script = load(file);
  ASSERT_FALSE(script.rounds.empty());
  auto reference = play(script, whole(script));
  for (std::size_t r = 0; r < script.rounds.size(); ++r)
    EXPECT_EQ(reference.outputs[r], script.rounds[r].expected) << "the round at line " << script.rounds[r].line;
  EXPECT_EQ(reference.removed, script.removed.value_or("")) << "what the maildrop was told to remove";
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
      if (split.outputs != reference.outputs) break;
    }
  }
}

fs::path scripts_dir() {
  const char* data = std::getenv("POSTERN_TEST_DATA");
  return fs::path(data ? data : "data") / "dialogues";
}

}  // namespace

TEST(Pop3DialogueScripts, EveryScriptHoldsUnderEverySplit) {
  std::vector<fs::path> files;
  for (auto& entry : fs::directory_iterator(scripts_dir()))
    if (entry.path().extension() == ".dialogue") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 5u) << scripts_dir();
  for (auto& f : files) check(f);
}

TEST(Pop3DialogueScripts, AWrongExpectationFails) {
  auto dir = fs::temp_directory_path() / ("pop3-dialogue-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto file = dir / "wrong.dialogue";
  std::ofstream(file) << "S: +OK pop.test POP3 Postern ready\nC: CAPA\nS: +OK Not what it says\n";
  Script script = load(file);
  auto run = play(script, whole(script));
  EXPECT_NE(run.outputs[1], script.rounds[1].expected);
  fs::remove_all(dir);
}

TEST(Pop3Dialogue, NextBeforeAnAnswerIsALogicError) {
  Dialogue d(DialogueSettings{.hostname = "pop.test"});
  d.receive("USER a\r\nPASS b\r\n");
  EXPECT_EQ(d.next().kind, Event::Kind::login);
  EXPECT_THROW(d.next(), std::logic_error);
}

TEST(Pop3Dialogue, TheLoginEventCarriesUserAndPassword) {
  Dialogue d(DialogueSettings{.hostname = "pop.test"});
  d.receive("USER bob@example.org\r\nPASS two words\r\n");
  auto e = d.next();
  ASSERT_EQ(e.kind, Event::Kind::login);
  EXPECT_EQ(e.user, "bob@example.org");
  EXPECT_EQ(e.text, "two words");
}

// A maildrop that fails is -ERR [SYS/TEMP], and the session goes on.
TEST(Pop3Dialogue, AFailingMaildropIsATemporaryError) {
  struct Broken : Maildrop {
    std::vector<MaildropEntry> entries() override { return {{"x", 10}}; }
    std::optional<std::string> content(const std::string&) override { throw std::runtime_error("disk"); }
    std::optional<std::size_t> remove(const std::vector<std::string>&) override { return std::nullopt; }
  };
  Dialogue d(DialogueSettings{.hostname = "pop.test"});
  d.receive("USER a\r\nPASS b\r\n");
  ASSERT_EQ(d.next().kind, Event::Kind::login);
  d.logged_in("a", std::make_unique<Broken>());
  d.receive("RETR 1\r\nDELE 1\r\nQUIT\r\n");
  while (d.next().kind != Event::Kind::close) {
  }
  std::string wire;
  for (auto& r : d.replies()) wire += r.wire();
  EXPECT_EQ(wire,
            "+OK Send the password with PASS\r\n"
            "+OK Logged in, 1 message (10 octets)\r\n"
            "-ERR [SYS/TEMP] Cannot read the message now, try again later\r\n"
            "+OK Message 1 deleted\r\n"
            "-ERR [SYS/TEMP] Some deleted messages not removed\r\n");
  EXPECT_EQ(d.removed(), 0u);
}

struct MultilineCase {
  const char* name;
  std::string message;
  std::optional<std::size_t> lines;
  std::string want;
};

TEST(Pop3Reply, MultilineStuffsAndEnds) {
  const std::vector<MultilineCase> cases = {
      {"empty", "", std::nullopt, ".\r\n"},
      {"crlf", "a\r\nb\r\n", std::nullopt, "a\r\nb\r\n.\r\n"},
      {"bare lf", "a\nb", std::nullopt, "a\r\nb\r\n.\r\n"},
      {"dots", ".\r\n..x\r\n", std::nullopt, "..\r\n...x\r\n.\r\n"},
      {"top 0", "H: 1\r\n\r\nb1\r\nb2\r\n", 0, "H: 1\r\n\r\n.\r\n"},
      {"top 1", "H: 1\r\n\r\nb1\r\nb2\r\n", 1, "H: 1\r\n\r\nb1\r\n.\r\n"},
      {"top more than there is", "H: 1\r\n\r\nb1\r\n", 9, "H: 1\r\n\r\nb1\r\n.\r\n"},
      {"top without a body", "H: 1\r\n", 2, "H: 1\r\n.\r\n"},
  };
  for (const auto& c : cases) EXPECT_EQ(multiline(c.message, c.lines), c.want) << c.name;
  EXPECT_EQ(octets("a\nb"), 6u);
  EXPECT_EQ(octets("a\r\nb\r\n"), 6u);
}

TEST(Pop3Reply, FromSmtpKeepsTheClassAndTheText) {
  using postern::smtp::Reply;
  EXPECT_EQ(from_smtp(Reply{235, "2.7.0", "Authentication successful"}).wire(), "+OK Authentication successful\r\n");
  EXPECT_EQ(from_smtp(Reply{535, "5.7.8", "Authentication credentials invalid"}).wire(),
            "-ERR [AUTH] Authentication credentials invalid\r\n");
  EXPECT_EQ(from_smtp(Reply{454, "4.7.0", "Temporary authentication failure"}).wire(),
            "-ERR [SYS/TEMP] Temporary authentication failure\r\n");
  EXPECT_EQ(from_smtp(Reply{504, "5.5.4", "Unrecognized authentication type"}).wire(),
            "-ERR Unrecognized authentication type\r\n");
  // Reply text never carries a line break onto the wire.
  EXPECT_EQ(postern::pop3::Reply::err("a\r\nb").wire(), "-ERR a\\x0d\\x0ab\r\n");
}
