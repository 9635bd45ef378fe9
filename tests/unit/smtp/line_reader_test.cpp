#include "smtp/line_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postern::smtp {
namespace {

// Feeds `input` in pieces split at `cut` and collects what next() says:
// "L:<line>" for a line, "T" for too long.
std::vector<std::string> run(std::string_view input, std::size_t limit, std::size_t cut) {
  LineReader r(limit);
  std::vector<std::string> out;
  auto drain = [&] {
    for (;;) {
      auto res = r.next();
      if (res.status == LineReader::Status::need_more) return;
      out.push_back(res.status == LineReader::Status::line ? "L:" + std::string(res.line) : "T");
    }
  };
  r.append(input.substr(0, cut));
  drain();
  r.append(input.substr(cut));
  drain();
  return out;
}

struct Case {
  const char* name;
  std::string input;
  std::size_t limit;
  std::vector<std::string> want;
};

TEST(LineReader, TableSplitAtEveryByte) {
  std::vector<Case> cases = {
      {"crlf", "NOOP\r\nQUIT\r\n", 512, {"L:NOOP", "L:QUIT"}},
      {"bare lf accepted in commands", "NOOP\nQUIT\r\n", 512, {"L:NOOP", "L:QUIT"}},
      {"empty line", "\r\n", 512, {"L:"}},
      {"no end yet", "NOOP", 512, {}},
      {"exactly at limit", std::string(8, 'a') + "\r\n", 10, {"L:aaaaaaaa"}},
      {"one over limit", std::string(9, 'a') + "\r\nNOOP\r\n", 10, {"T", "L:NOOP"}},
      {"far over limit, then in step", std::string(100, 'x') + "\r\nQUIT\r\n", 10, {"T", "L:QUIT"}},
      {"over limit with bare lf", std::string(30, 'x') + "\nNOOP\n", 10, {"T", "L:NOOP"}},
      {"cr inside line kept", "A\rB\r\n", 512, {"L:A\rB"}},
      {"nul kept for the parser", std::string("NO\0OP\r\n", 7), 512, {"L:" + std::string("NO\0OP", 5)}},
  };
  for (const auto& c : cases) {
    for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
      auto got = run(c.input, c.limit, cut);
      EXPECT_EQ(got, c.want) << c.name << " cut at " << cut;
    }
  }
}

TEST(LineReader, TooLongReportedOnceAndBufferStaysBounded) {
  LineReader r(512);
  int too_long = 0;
  for (int i = 0; i < 1000; ++i) {
    r.append(std::string(1000, 'x'));
    for (auto res = r.next(); res.status != LineReader::Status::need_more; res = r.next())
      if (res.status == LineReader::Status::too_long) ++too_long;
    EXPECT_LE(r.buffered().size(), 1000u);
  }
  EXPECT_EQ(too_long, 1);
  r.append("\r\nRSET\r\n");
  auto res = r.next();
  ASSERT_EQ(res.status, LineReader::Status::line);
  EXPECT_EQ(res.line, "RSET");
}

TEST(LineReader, BufferedAndDiscardForStarttls) {
  LineReader r(512);
  r.append("STARTTLS\r\nMAIL FROM:<evil@example.net>\r\n");
  auto res = r.next();
  ASSERT_EQ(res.status, LineReader::Status::line);
  EXPECT_EQ(res.line, "STARTTLS");
  EXPECT_TRUE(r.has_buffered());
  r.discard();
  EXPECT_FALSE(r.has_buffered());
  EXPECT_EQ(r.next().status, LineReader::Status::need_more);
}

TEST(LineReader, PrepareCommitAndConsume) {
  LineReader r(512);
  auto room = r.prepare(100);
  std::string data = "DATA\r\nbody";
  std::copy(data.begin(), data.end(), room.begin());
  r.commit(data.size());
  EXPECT_EQ(r.next().line, "DATA");
  EXPECT_EQ(r.buffered(), "body");
  r.consume(2);
  EXPECT_EQ(r.buffered(), "dy");
}

// An idle session gives its buffer back; a partial line is never dropped.
TEST(LineReader, ReleaseIfEmptyKeepsPartialLines) {
  LineReader r(512);
  r.append("NOOP\r\nMAI");
  EXPECT_EQ(r.next().line, "NOOP");
  r.release_if_empty();
  EXPECT_EQ(r.buffered(), "MAI");
  r.append("L FROM:<a@b>\r\n");
  EXPECT_EQ(r.next().line, "MAIL FROM:<a@b>");
  EXPECT_EQ(r.next().status, LineReader::Status::need_more);
  r.release_if_empty();
  EXPECT_FALSE(r.has_buffered());
  auto room = r.prepare(16);
  std::string data = "QUIT\r\n";
  std::copy(data.begin(), data.end(), room.begin());
  r.commit(data.size());
  EXPECT_EQ(r.next().line, "QUIT");
}

}  // namespace
}  // namespace postern::smtp
