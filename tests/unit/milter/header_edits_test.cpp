// The header section as filters see and change it.
#include <gtest/gtest.h>

#include "inbound/milter/header_edits.hpp"

namespace postern::milter {
namespace {

HeaderEdit edit(HeaderChange::Kind kind, std::uint32_t index, std::string name, std::string value, bool lead = false) {
  HeaderEdit e;
  e.change.kind = kind;
  e.change.index = index;
  e.change.name = std::move(name);
  e.change.value = std::move(value);
  e.leading_space = lead;
  return e;
}

TEST(Split, FieldsFoldsAndTheBlankLine) {
  std::string m = "Received: from a\r\n\tby b\r\nSubject: hi\r\nX-Empty:\r\n\r\nbody\r\n";
  auto s = split_header_section(m);
  ASSERT_EQ(s.fields.size(), 3u);
  EXPECT_EQ(s.fields[0].name, "Received");
  EXPECT_EQ(s.fields[0].raw, "Received: from a\r\n\tby b\r\n");
  EXPECT_TRUE(s.blank_line);
  EXPECT_EQ(m.substr(s.consumed), "body\r\n");
  EXPECT_EQ(field_value(s.fields[0], false), "from a\n\tby b");
  EXPECT_EQ(field_value(s.fields[0], true), " from a\n\tby b");
  EXPECT_EQ(field_value(s.fields[2], false), "");
  // One space is eaten, as Sendmail and Postfix do; a tab or a second space is not.
  auto blanks = split_header_section("A:  two\r\nB:\ttab\r\n\r\n");
  EXPECT_EQ(field_value(blanks.fields[0], false), " two");
  EXPECT_EQ(field_value(blanks.fields[1], false), "\ttab");
}

TEST(Split, NoBlankLineOrNotAField) {
  auto s = split_header_section("Subject: hi\r\nthis is body\r\n");
  EXPECT_EQ(s.fields.size(), 1u);
  EXPECT_FALSE(s.blank_line);
  EXPECT_EQ(s.consumed, 13u);
  auto cut = split_header_section("Subject: hi\r\nTo: som");
  EXPECT_EQ(cut.fields.size(), 1u);
  EXPECT_EQ(cut.consumed, 13u);
  auto obsolete = split_header_section("Subject : hi\r\n\r\n");
  ASSERT_EQ(obsolete.fields.size(), 1u);
  EXPECT_EQ(obsolete.fields[0].name, "Subject");
  EXPECT_TRUE(split_header_section("\tfold first\r\n\r\n").fields.empty());
  EXPECT_TRUE(split_header_section("").fields.empty());
}

TEST(Apply, AddInsertChangeDelete) {
  auto s = split_header_section("A: 1\r\nB: 2\r\nA: 3\r\n\r\n");
  auto f = s.fields;
  apply_edit(f, edit(HeaderChange::Kind::add, 0, "Z", "last"));
  apply_edit(f, edit(HeaderChange::Kind::insert, 0, "First", "0"));
  apply_edit(f, edit(HeaderChange::Kind::insert, 99, "Far", "end"));
  apply_edit(f, edit(HeaderChange::Kind::change, 2, "a", "three"));
  apply_edit(f, edit(HeaderChange::Kind::change, 1, "B", ""));
  apply_edit(f, edit(HeaderChange::Kind::change, 5, "A", ""));        // nothing to delete
  apply_edit(f, edit(HeaderChange::Kind::change, 1, "New", "added"));  // absent: added
  EXPECT_EQ(join(f, true), "First: 0\r\nA: 1\r\nA: three\r\nZ: last\r\nFar: end\r\nNew: added\r\n\r\n");
}

TEST(Apply, OurReceivedIsHiddenFromChanges) {
  auto f = split_header_section("Received: ours\r\nReceived: theirs\r\n\r\n").fields;
  apply_edit(f, edit(HeaderChange::Kind::change, 1, "Received", ""), 0);
  apply_edit(f, edit(HeaderChange::Kind::insert, 0, "X-Top", "1"), 0);
  EXPECT_EQ(join(f, false), "X-Top: 1\r\nReceived: ours\r\n");
}

TEST(Apply, ValuesFromFilters) {
  EXPECT_EQ(make_field("X", "a\nb", false).raw, "X: a\r\n\tb\r\n");
  EXPECT_EQ(make_field("X", "a\r\n b", false).raw, "X: a\r\n b\r\n");
  EXPECT_EQ(make_field("X", " lead", true).raw, "X: lead\r\n");
  EXPECT_EQ(make_field("X", "end\n", false).raw, "X: end\r\n\t\r\n");
  // Never an empty line inside a field: it would end the header section.
  EXPECT_EQ(make_field("X", "a\n\nb", false).raw, "X: a\r\n\t\r\n\tb\r\n");
  EXPECT_EQ(make_field("X", "a\r\n\r\nInjected: yes", false).raw, "X: a\r\n\t\r\n\tInjected: yes\r\n");
  EXPECT_EQ(make_field("X", std::string("a\0b", 3), false).raw, "X: a b\r\n");
}

}  // namespace
}  // namespace postern::milter
