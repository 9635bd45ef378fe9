#include "smtp/data_decoder.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace postern::smtp {
namespace {

struct Case {
  const char* name;
  std::string input;
  bool done;
  std::string message;  // when done and clean
  bool bare;
  std::size_t consumed;  // octets used (npos = all)
};

struct Outcome {
  bool done;
  bool bare;
  std::string message;
  std::size_t consumed;
};

Outcome run(const std::string& input, std::size_t cut, std::uint64_t max = 1 << 20) {
  DataDecoder d(max);
  std::size_t used = d.feed(std::string_view(input).substr(0, cut));
  if (!d.done()) used += d.feed(std::string_view(input).substr(cut));
  return {d.done(), d.bare_cr_or_lf(), d.message(), used};
}

TEST(DataDecoder, TableSplitAtEveryByte) {
  const auto all = std::string::npos;
  std::vector<Case> cases = {
      {"simple", "Subject: x\r\n\r\nbody\r\n.\r\n", true, "Subject: x\r\n\r\nbody\r\n", false, all},
      {"empty message", ".\r\n", true, "", false, all},
      {"dot unstuffing", "..one\r\n...two\r\n.\r\n", true, ".one\r\n..two\r\n", false, all},
      {"dot inside a line stays", "a.b\r\n.\r\n", true, "a.b\r\n", false, all},
      {"stops at the terminator", "x\r\n.\r\nQUIT\r\n", true, "x\r\n", false, 6},
      {"no terminator yet", "x\r\n", false, "", false, all},
      {"dot line without crlf is not the end", "x\r\n.", false, "", false, all},
      {"bare lf flagged", "a\nb\r\n.\r\n", true, "", true, all},
      {"bare cr flagged", "a\rb\r\n.\r\n", true, "", true, all},
      {"smuggling lf.lf never ends", "a\r\n\n.\nMAIL FROM:<x@y.example>\r\n.\r\n", true, "", true, all},
      {"smuggling lf.crlf never ends", "a\n.\r\nMAIL FROM:<x@y.example>\r\n.\r\n", true, "", true, all},
      {"smuggling cr.cr never ends", "a\r.\rRSET\r\n.\r\n", true, "", true, all},
      {"dot cr then other", "a\r\n.\rx\r\n.\r\n", true, "", true, all},
      {"bare cr before crlf", "a\r\r\n.\r\n", true, "", true, all},
      {"nul passes through", std::string("a\0b\r\n.\r\n", 8), true, std::string("a\0b\r\n", 5), false, all},
  };
  for (const auto& c : cases) {
    for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
      auto o = run(c.input, cut);
      EXPECT_EQ(o.done, c.done) << c.name << " cut " << cut;
      EXPECT_EQ(o.bare, c.bare) << c.name << " cut " << cut;
      if (c.done && !c.bare) EXPECT_EQ(o.message, c.message) << c.name << " cut " << cut;
      EXPECT_EQ(o.consumed, c.consumed == all ? c.input.size() : c.consumed) << c.name << " cut " << cut;
    }
  }
}

// The decoder as RFC 5321 §4.5.2 reads, one octet at a time and nothing
// else: the decoder's runs within a line must give exactly this.
struct OctetByOctet {
  enum class S { line_start, in_line, cr, dot, dot_cr, done } s = S::line_start;
  std::uint64_t max, size = 0;
  std::string out;
  bool bare = false, nul = false;
  std::size_t used = 0;
  explicit OctetByOctet(std::uint64_t m) : max(m) {}
  void put(char c) {
    if (c == '\0') nul = true;
    if (++size <= max) out += c;
  }
  void feed(std::string_view in) {
    for (char c : in) {
      if (s == S::done) return;
      ++used;
      switch (s) {
        case S::line_start:
          if (c == '.') { s = S::dot; break; }
          [[fallthrough]];
        case S::in_line:
          if (c == '\r') s = S::cr;
          else { if (c == '\n') bare = true; put(c); s = S::in_line; }
          break;
        case S::cr:
          if (c == '\n') { put('\r'); put('\n'); s = S::line_start; }
          else { bare = true; put('\r'); if (c == '\r') break; put(c); s = S::in_line; }
          break;
        case S::dot:
          if (c == '\r') s = S::dot_cr;
          else { if (c == '\n') bare = true; put(c); s = S::in_line; }
          break;
        case S::dot_cr:
          if (c == '\n') s = S::done;
          else { bare = true; put('\r'); if (c == '\r') s = S::cr; else { put(c); s = S::in_line; } }
          break;
        case S::done: break;
      }
    }
  }
};

TEST(DataDecoder, RunsDecodeAsOctetByOctet) {
  std::mt19937 rng(28);
  const std::string alphabet("ab.\r\n\0x", 7);
  for (int n = 0; n < 20000; ++n) {
    std::string input;
    const int len = static_cast<int>(rng() % 120);
    for (int k = 0; k < len; ++k) {
      // Mostly ordinary octets, as in mail: long runs between line ends.
      input += rng() % 10 < 6 ? 'a' : alphabet[rng() % alphabet.size()];
    }
    if (rng() % 3 == 0) input += "\r\n.\r\nafter";
    const std::uint64_t cap = rng() % 4 == 0 ? rng() % 40 : 1 << 20;
    OctetByOctet want(cap);
    want.feed(input);
    DataDecoder d(cap);
    std::size_t used = 0;
    const std::size_t piece = 1 + rng() % 17;
    for (std::size_t i = 0; i < input.size() && !d.done(); i += piece) used += d.feed(std::string_view(input).substr(i, piece));
    ASSERT_EQ(d.done(), want.s == OctetByOctet::S::done) << n;
    ASSERT_EQ(used, want.used) << n;
    ASSERT_EQ(d.message(), want.out) << n;
    ASSERT_EQ(d.size(), want.size) << n;
    ASSERT_EQ(d.bare_cr_or_lf(), want.bare) << n;
    ASSERT_EQ(d.nul(), want.nul) << n;
  }
}

TEST(DataDecoder, SizeCapKeepsReadingToTheEnd) {
  DataDecoder d(10);
  std::string input = std::string(100, 'x') + "\r\n.\r\nNOOP\r\n";
  auto used = d.feed(input);
  EXPECT_TRUE(d.done());
  EXPECT_TRUE(d.too_big());
  EXPECT_EQ(d.size(), 102u);
  EXPECT_LE(d.message().size(), 10u);
  EXPECT_EQ(input.substr(used), "NOOP\r\n");
  DataDecoder exact(5);
  exact.feed("abc\r\n.\r\n");
  EXPECT_FALSE(exact.too_big());
  EXPECT_EQ(exact.message(), "abc\r\n");
}

TEST(ChunkDecoder, TakesExactlyTheChunk) {
  std::string message;
  ChunkDecoder c(5, 100, message);
  EXPECT_EQ(c.feed("abc"), 3u);
  EXPECT_FALSE(c.done());
  EXPECT_EQ(c.feed("de\r\nQUIT"), 2u);
  EXPECT_TRUE(c.done());
  EXPECT_EQ(message, "abcde");
  ChunkDecoder next(3, 2, message);  // room for 2 more octets only
  EXPECT_EQ(next.feed("xyz"), 3u);
  EXPECT_TRUE(next.too_big());
  EXPECT_TRUE(message.empty());
  std::string m2;
  ChunkDecoder zero(0, 10, m2);
  EXPECT_TRUE(zero.done());
  EXPECT_EQ(zero.feed("abc"), 0u);
}

TEST(ChunkDecoder, RoomCountsEveryChunkEvenWhenDrained) {
  std::string out;
  ChunkDecoder c(6, 4, out);
  EXPECT_EQ(c.feed("ab"), 2u);
  EXPECT_EQ(c.take_output(), "ab");
  EXPECT_EQ(c.feed("cdef"), 4u);
  EXPECT_TRUE(c.too_big());
}

TEST(BareLineEndScanner, AcrossChunks) {
  BareLineEndScanner ok;
  ok.feed("a\r");
  ok.feed("\nb\r\n");
  EXPECT_FALSE(ok.bare(true));
  BareLineEndScanner lf;
  lf.feed("a\nb");
  EXPECT_TRUE(lf.bare(false));
  BareLineEndScanner cr;
  cr.feed("a\rb\r\n");
  EXPECT_TRUE(cr.bare(false));
  BareLineEndScanner tail;
  tail.feed("a\r\nb\r");
  EXPECT_FALSE(tail.bare(false));
  EXPECT_TRUE(tail.bare(true));
}

// smtpsmug's nullbefore ("\r\n\0.\r\n") and nullafter ("\r\n.\0\r\n"): a NUL
// never ends DATA and flags the message, wherever it falls.
TEST(DataDecoder, NulIsFlaggedAndNeverEndsData) {
  using namespace std::string_literals;
  for (std::string input : {"a\r\n\0.\r\nb\r\n.\r\n"s, "a\r\n.\0\r\nb\r\n.\r\n"s, "x\0y\r\n.\r\n"s}) {
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
      DataDecoder d(1 << 20);
      std::size_t used = d.feed(std::string_view(input).substr(0, cut));
      if (!d.done()) used += d.feed(std::string_view(input).substr(cut));
      EXPECT_TRUE(d.done());
      EXPECT_EQ(used, input.size());
      EXPECT_TRUE(d.nul()) << "cut " << cut;
      EXPECT_FALSE(d.bare_cr_or_lf());
    }
  }
  DataDecoder clean(1 << 20);
  clean.feed("a\r\n.\r\n");
  EXPECT_FALSE(clean.nul());
}

TEST(BareLineEndScanner, NulInAnyChunk) {
  BareLineEndScanner s;
  s.feed("a\r\n");
  EXPECT_FALSE(s.nul());
  s.feed(std::string_view("b\0c\r\n", 5));  // 5 octets: b NUL c CR LF
  EXPECT_TRUE(s.nul());
  EXPECT_FALSE(s.bare(true));
}

TEST(ReceivedCounter, HeaderSectionOnly) {
  EXPECT_EQ(count_received("Received: a\r\nRECEIVED:b\r\n c\r\nSubject: x\r\n\r\nReceived: body\r\n"), 2u);
  EXPECT_EQ(count_received("Subject: x\r\nReceived-SPF: pass\r\n"), 0u);
  EXPECT_EQ(count_received("Received : a\r\nReceived\t: b\r\nReceivedX: c\r\n Received: folded\r\n\r\n"), 2u);  // §4.5
  ReceivedCounter split;
  for (char c : std::string("Rec") + "eived: x\r\n" + "received: y\n\nReceived: z\n") split.feed(std::string_view(&c, 1));
  EXPECT_EQ(split.count(), 2u);
}

}  // namespace
}  // namespace postern::smtp
