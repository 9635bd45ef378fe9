#include "mime/header_section.hpp"

#include <gtest/gtest.h>

#include "mime/reader.hpp"

namespace postern::mime {
namespace {

TEST(FieldName, ModernAndObsoleteForms) {
  EXPECT_EQ(field_name("Subject: hi\r\n"), "Subject");
  EXPECT_EQ(field_name("Bcc : x@example.org\n"), "Bcc");        // RFC 5322 §4.5
  EXPECT_EQ(field_name("Resent-Bcc\t:x@example.org"), "Resent-Bcc");
  EXPECT_EQ(field_name("X-Empty:"), "X-Empty");
  EXPECT_EQ(field_name("Error: backup failed\n"), "Error");      // a field by its syntax, as for Postfix
  EXPECT_FALSE(field_name("backup failed at 02:00\n"));           // white space inside the name
  EXPECT_FALSE(field_name(": no name\n"));
  EXPECT_FALSE(field_name(" folded: line\n"));
  EXPECT_FALSE(field_name("From mbox-style line\n"));
  EXPECT_FALSE(field_name("\r\n"));
}

TEST(WithBodySeparator, AddsTheEmptyLineWhereTheHeaderSectionEnds) {
  EXPECT_EQ(with_body_separator("backup failed\r\nsecond line\r\n"), "\r\nbackup failed\r\nsecond line\r\n");
  EXPECT_EQ(with_body_separator("Subject: x\r\n  folded\r\nbody at once\r\n"),
            "Subject: x\r\n  folded\r\n\r\nbody at once\r\n");
  EXPECT_EQ(with_body_separator(" starts folded\r\n"), "\r\n starts folded\r\n");
}

TEST(WithBodySeparator, LeavesAWellFormedMessageAlone) {
  for (std::string m : {"Subject: x\r\n\r\nbody\r\n", "Subject: only a header\r\n", "", "\r\nbody only\r\n",
                        "Subject: x\n\nLF ends\n"})
    EXPECT_EQ(with_body_separator(m), m);
}

TEST(HasField, HeaderSectionOnlyAnyForm) {
  EXPECT_TRUE(has_field("from : a@example.org\r\n\r\n", "From"));
  EXPECT_FALSE(has_field("Subject: x\r\n\r\nFrom: not a header\r\n", "From"));
  EXPECT_FALSE(has_field("Subject: x\r\n  From: folded text\r\n\r\n", "From"));
}

TEST(WithoutBcc, RemovesBccAndResentBccInEveryForm) {
  const std::string m =
      "To: a@example.org\r\nBcc : hidden1@example.org\r\nresent-bcc:\r\n hidden2@example.org\r\n"
      "Resent-Bcc\t: hidden3@example.org\r\nSubject: x\r\n\r\nBcc: in the body stays\r\n";
  EXPECT_EQ(without_bcc(m), "To: a@example.org\r\nSubject: x\r\n\r\nBcc: in the body stays\r\n");
}

TEST(HeaderFields, AsWrittenUnfoldedInOrder) {
  const auto fields = header_fields("Subject: =?utf-8?q?a?=\r\n  b\r\nX-Tags : one\r\nTo: x@y\r\n\r\nNot: a header\r\n");
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[0], (std::pair<std::string, std::string>{"Subject", "=?utf-8?q?a?= b"}));
  EXPECT_EQ(fields[1], (std::pair<std::string, std::string>{"X-Tags", "one"}));
  EXPECT_EQ(fields[2].first, "To");
  EXPECT_TRUE(header_fields("no header here\r\n").empty());
  EXPECT_TRUE(header_fields("").empty());
}

}  // namespace
}  // namespace postern::mime
