// Pure pieces of the client: retry schedule and hints, capabilities, DATA
// transparency, address and message checks, message composition, base64.
#include <gtest/gtest.h>

#include "smtp/capabilities.hpp"
#include "client/message.hpp"
#include "client/retry.hpp"
#include "client/session.hpp"
#include "sasl/base64.hpp"

using namespace postern::client;
using postern::smtp::Reply;
using postern::smtp::parse_capabilities;

TEST(RetryHint, Table) {
  const std::vector<std::pair<std::string, std::optional<long long>>> cases = {
      {"Greylisted, try again in 300 seconds", 300},
      {"Greylisted, try again in 1 second", 1},
      {"please retry in 5 minutes", 300},
      {"Try again in 2 min", 120},
      {"retry after 60s", 60},
      {"Greylisted for 2 hours", 7200},
      {"TRY AGAIN IN 45 SECONDS", 45},
      {"Mailbox temporarily unavailable, try again later", std::nullopt},
      {"try again in a while", std::nullopt},
      {"in 3 attempts", std::nullopt},
      {"", std::nullopt},
      {"in", std::nullopt},
      {"in 99999999999999999999 seconds", std::nullopt},
  };
  for (auto& [text, want] : cases) {
    auto got = retry_hint(text);
    if (!want) {
      EXPECT_FALSE(got) << text << ": got " << got->count();
    } else {
      ASSERT_TRUE(got) << text;
      EXPECT_EQ(got->count(), *want) << text;
    }
  }
}

TEST(RetrySchedule, ExponentialCappedWithoutJitter) {
  RetryPolicy p{Seconds(5), Seconds(60), 0.0};
  RetrySchedule s(p, [] { return 0.5; });
  std::vector<long long> got;
  for (int i = 0; i < 6; ++i) got.push_back(s.next().count());
  EXPECT_EQ(got, (std::vector<long long>{5, 10, 20, 40, 60, 60}));
  EXPECT_EQ(s.failures(), 6u);
}

TEST(RetrySchedule, JitterStaysWithinBounds) {
  RetryPolicy p{Seconds(100), Seconds(1000), 0.2};
  RetrySchedule low(p, [] { return 0.0; });
  RetrySchedule high(p, [] { return 0.999999; });
  EXPECT_EQ(low.next().count(), 80);
  EXPECT_EQ(high.next().count(), 120);
  // Jitter never passes the cap.
  for (int i = 0; i < 10; ++i) EXPECT_LE(high.next().count(), 1000);
}

TEST(RetrySchedule, HintIsHonouredWithinBounds) {
  RetryPolicy p{Seconds(5), Seconds(600), 0.2, Seconds(2), Seconds(1)};
  RetrySchedule s(p, [] { return 0.5; });
  EXPECT_EQ(s.next_after("Greylisted, try again in 300 seconds").count(), 301);  // longer than backoff
  EXPECT_EQ(s.next_after("try again in 0 seconds").count(), 2);                // raised to hint_min
  EXPECT_EQ(s.next_after("try again in 2 hours").count(), 600);                // capped at max
  EXPECT_EQ(s.next_after("Mailbox busy").count(), 40);                         // plain backoff, 4th failure
}

TEST(RetrySchedule, Describe) {
  EXPECT_EQ(describe(Seconds(5)), "5 s");
  EXPECT_EQ(describe(Seconds(150)), "2 min 30 s");
  EXPECT_EQ(describe(Seconds(3900)), "1 h 5 min");
}

TEST(Capabilities, IgnoresJunkAndKeepsKeywords) {
  Reply r(250, "", std::vector<std::string>{"mx.example.org", "", "-bad", "pipelining", "SIZE", "x-custom arg",
                                             "starttls", "auth scram-sha-256 plain"});
  auto c = parse_capabilities(r);
  EXPECT_TRUE(c.pipelining);
  EXPECT_TRUE(c.starttls);
  ASSERT_TRUE(c.size);
  EXPECT_EQ(*c.size, 0u);
  EXPECT_TRUE(c.has("X-CUSTOM"));
  EXPECT_FALSE(c.has("-BAD"));
  EXPECT_EQ(c.auth, (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN"}));
  EXPECT_TRUE(c.offers_auth("plain"));
}

TEST(DotStuff, Table) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a\nb\n", "a\r\nb\r\n.\r\n"},
      {"a\r\nb", "a\r\nb\r\n.\r\n"},
      {".x\n..y\n.\n", "..x\r\n...y\r\n..\r\n.\r\n"},
      {"bare\rcr\n", "bare\r\ncr\r\n.\r\n"},
      {"", ".\r\n"},
      {"a\n.", "a\r\n..\r\n.\r\n"},
      {"a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
      {"\n.\n\n", "\r\n..\r\n\r\n.\r\n"},
      {"x.y\r\n.", "x.y\r\n..\r\n.\r\n"},
      {"\r", "\r\n.\r\n"},
      {std::string(5000, 'z') + "\n", std::string(5000, 'z') + "\r\n.\r\n"},
  };
  for (auto& [in, want] : cases) EXPECT_EQ(dot_stuff(in), want) << in;
}

TEST(Address, Table) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"alice@example.org", true},
      {"a.b+tag@sub.example.org", true},
      {"\"john doe\"@example.org", true},
      {"j\xc3\xb6rg@b\xc3\xbc" "cher.example", true},
      {"user@[127.0.0.1]", true},
      {"", false},
      {"alice", false},
      {"alice@", false},
      {"@example.org", false},
      {"a@b@example.org", false},
      {"a..b@example.org", false},
      {".a@example.org", false},
      {"a b@example.org", false},
      {"a@exa mple.org", false},
      {"a@-example.org", false},
      {"a@example..org", false},
      {"a@example.org\r\nRCPT TO:<x@y>", false},
      {"a@[127.0.0.1", false},
      {"\xff@example.org", false},
      {"a<b@example.org", false},
      {std::string(65, 'a') + "@example.org", false},
  };
  for (auto& [addr, ok] : cases) {
    auto e = address_error(addr);
    EXPECT_EQ(!e, ok) << "address \"" << addr << "\": " << (e ? *e : "accepted");
  }
  EXPECT_EQ(strip_brackets("<a@b>"), "a@b");
  EXPECT_EQ(strip_brackets("a@b"), "a@b");
}

TEST(MessageCheck, Table) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"From: a@b\nSubject: x\n\nbody\n", true},
      {"From: a@b\n\tfolded\nTo: c@d\r\n\r\nbody", true},
      {"From: a@b\n", true},
      {"", false},
      {"just some text\n", false},
      {"\nbody only\n", false},
      {" continuation first\n\nbody", false},
      {"From: a@b\nBad Header: x\n\nbody", false},
      {std::string("From: a@b\n\nnul\0here\n", 20), false},
      {"From: a@b\n\n" + std::string(999, 'x') + "\n", false},
      {"From: a@b\n\n" + std::string(998, 'x') + "\n", true},
  };
  for (auto& [m, ok] : cases) {
    auto e = message_error(m);
    EXPECT_EQ(!e, ok) << "message \"" << m.substr(0, 40) << "\": " << (e ? *e : "accepted");
  }
  EXPECT_FALSE(body_error("hello\n"));
  EXPECT_TRUE(body_error(std::string("a\0b", 3)));
}

TEST(Compose, HeadersAndBody) {
  Composition c;
  c.from = "alice@example.net";
  c.to = {"bob@example.org", "carol@example.org"};
  c.subject = "Hello";
  c.body = "line\r\n";
  c.date = 1700000000;
  c.message_id = "<id@example.net>";
  std::string m = compose(c);
  EXPECT_NE(m.find("From: alice@example.net\r\n"), std::string::npos);
  EXPECT_NE(m.find("To: bob@example.org,\r\n carol@example.org\r\n"), std::string::npos);
  EXPECT_NE(m.find("Subject: Hello\r\n"), std::string::npos);
  EXPECT_NE(m.find("Message-ID: <id@example.net>\r\n"), std::string::npos);
  EXPECT_NE(m.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(m.find("Content-Transfer-Encoding: 7bit\r\n"), std::string::npos);
  EXPECT_NE(m.find("Date: "), std::string::npos);
  EXPECT_EQ(m.substr(m.size() - 8), "\r\nline\r\n");
  EXPECT_FALSE(message_error(m));
}

TEST(Compose, GeneratedMessageIdUsesSenderDomain) {
  Composition c;
  c.from = "alice@example.net";
  c.to = {"bob@example.org"};
  c.body = "x";
  std::string m = compose(c);
  EXPECT_NE(m.find("@example.net>\r\n"), std::string::npos) << m;
}

TEST(Compose, EncodesNonAsciiSubject) {
  EXPECT_EQ(encode_header_text("plain"), "plain");
  EXPECT_EQ(encode_header_text("caf\xc3\xa9"), "=?UTF-8?B?Y2Fmw6k=?=");
  // ASCII that could read as an encoded word is encoded, so it is shown as typed (RFC 2047 §5).
  EXPECT_EQ(encode_header_text("=?x?="), "=?UTF-8?B?PT94Pz0=?=");
  // Long text: several encoded words, none over 75 octets, no split character.
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "\xc3\xa9";
  std::string enc = encode_header_text(long_text);
  std::size_t start = 0, words = 0;
  while (start < enc.size()) {
    auto end = enc.find("\r\n ", start);
    std::string w = enc.substr(start, end == std::string::npos ? std::string::npos : end - start);
    EXPECT_LE(w.size(), 75u);
    auto decoded = postern::sasl::base64_decode(w.substr(10, w.size() - 12));
    ASSERT_TRUE(decoded) << w;
    EXPECT_TRUE(valid_utf8(*decoded)) << w;
    ++words;
    if (end == std::string::npos) break;
    start = end + 3;
  }
  EXPECT_GE(words, 2u);
}

TEST(Base64, RoundTripAndStrictness) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto d = postern::sasl::base64_decode(postern::sasl::base64_encode(s));
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(postern::sasl::base64_decode("abc"));
  EXPECT_FALSE(postern::sasl::base64_decode("ab=c"));
  EXPECT_FALSE(postern::sasl::base64_decode("a===")) ;
  EXPECT_FALSE(postern::sasl::base64_decode("ab!="));
  EXPECT_EQ(*postern::sasl::base64_decode("YQ=="), "a");
}

TEST(Utf8, Validity) {
  EXPECT_TRUE(valid_utf8("abc"));
  EXPECT_TRUE(valid_utf8("\xc3\xa9"));
  EXPECT_TRUE(valid_utf8("\xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xc3"));
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\xc0\x80"));
}
