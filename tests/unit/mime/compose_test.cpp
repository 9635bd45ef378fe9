#include "mime/compose.hpp"

#include <gtest/gtest.h>

#include "mime/header_section.hpp"

namespace postern::mime {
namespace {

TEST(Compose, ReadsBackAsWritten) {
  NewMessage m;
  m.from = {"Änne Müller", "anne@example.com"};
  m.to = {{"", "to@example.org"}, {"Bob, Jr.", "bob@example.org"}};
  m.cc = {{"", "cc@example.org"}};
  m.reply_to = {{"", "r@example.com"}};
  m.subject = "Grüße — über alles";
  m.headers = {{"X-Tags", "one, two"}, {"X-Note", "naïve"}};
  m.text = "text body\n";
  m.html = "<p>html body</p>";
  m.attachments = {{"a.bin", "application/pdf", "", std::string("\0\x01\xff", 3)}, {"i.png", "image/png", "pic@x", "PNG"}};
  const std::string out = compose_message(m);
  EXPECT_EQ(out.find("\n", 0), out.find("\r\n") + 1) << "CRLF line ends";
  for (std::size_t at = 0; (at = out.find('\n', at)) != std::string::npos; ++at) ASSERT_EQ(out[at - 1], '\r');
  for (unsigned char c : out) ASSERT_LT(c, 0x80) << "7-bit: encoded words and transfer encodings";

  const auto p = parse_message(out);
  EXPECT_EQ(p.subject, m.subject);
  ASSERT_EQ(p.from.size(), 1u);
  EXPECT_EQ(p.from[0].name, "Änne Müller");
  ASSERT_EQ(p.to.size(), 2u);
  EXPECT_EQ(p.to[1].name, "Bob, Jr.");
  EXPECT_EQ(p.to[1].address, "bob@example.org");
  EXPECT_EQ(p.cc.at(0).address, "cc@example.org");
  EXPECT_EQ(p.reply_to.at(0).address, "r@example.com");
  EXPECT_EQ(p.text, "text body\n");
  EXPECT_EQ(p.html, "<p>html body</p>");
  EXPECT_FALSE(p.message_id.empty());
  EXPECT_TRUE(p.date);
  ASSERT_EQ(p.attachments.size(), 2u);
  EXPECT_EQ(p.attachments[0].filename, "a.bin");
  EXPECT_FALSE(p.attachments[0].inline_part);
  EXPECT_EQ(p.attachments[1].content_id, "pic@x");
  EXPECT_TRUE(p.attachments[1].inline_part);
  EXPECT_EQ(part_content(out, p.attachments[0].part_id)->bytes, std::string("\0\x01\xff", 3));
  bool tags = false;
  for (const auto& [name, value] : header_fields(out)) tags |= name == "X-Tags" && value == "one, two";
  EXPECT_TRUE(tags);
}

TEST(Compose, TextOnly) {
  NewMessage m;
  m.from = {"", "a@example.com"};
  m.to = {{"", "b@example.org"}};
  const auto p = parse_message(compose_message(m));
  EXPECT_EQ(p.from.at(0).address, "a@example.com");
  EXPECT_TRUE(p.attachments.empty());
  EXPECT_TRUE(p.html.empty());
}

}  // namespace
}  // namespace postern::mime
