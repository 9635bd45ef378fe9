#include "testbed/messages.hpp"

#include <gtest/gtest.h>

#include "util/ids.hpp"

namespace postern::testbed {
namespace {

struct SpoolDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("postern-testbed-" + util::random_hex(6));
  ~SpoolDir() { std::filesystem::remove_all(path); }
};

std::string put(store::Spool& spool, int n, const std::string& message) {
  store::Envelope e;
  e.reverse_path = "app@example.com";
  e.recipients = {"to" + std::to_string(n) + "@example.org"};
  e.received_at = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000 + n));
  return spool.put(e, message);
}

TEST(Messages, SubjectFromTheHeaderSectionAlone) {
  EXPECT_EQ(subject_of("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: a@b\r\n\r\nSubject: not this\r\n"), "Grüße");
  EXPECT_EQ(subject_of("From: a@b\n\nSubject: in the body\n"), "");
  EXPECT_EQ(subject_of(""), "");
}

TEST(Messages, IndexListsNewestFirstAndDropsTheOldestPastTheCap) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  const auto first = put(spool, 0, "Subject: kept before the start\r\n\r\nx\r\n");
  Messages messages(spool, 3);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages.list().at(0).subject, "kept before the start");
  std::vector<std::string> ids{first};
  for (int n = 1; n <= 4; ++n) {
    ids.push_back(put(spool, n, "Subject: number " + std::to_string(n) + "\r\n\r\nbody\r\n"));
    const auto dropped = messages.added(ids.back());
    EXPECT_EQ(dropped.size(), n >= 3 ? 1u : 0u) << n;
  }
  const auto list = messages.list();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].subject, "number 4");
  EXPECT_EQ(list[2].subject, "number 2");
  EXPECT_EQ(list[0].to, std::vector<std::string>{"to4@example.org"});
  EXPECT_FALSE(spool.load(ids[0])) << "dropped from the spool too";
  EXPECT_FALSE(spool.load(ids[1]));
  EXPECT_FALSE(messages.get(ids[1]));
  auto m = messages.get(ids[4]);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->parsed.text, "body\n");
  EXPECT_EQ(messages.clear(), 3u);
  EXPECT_TRUE(messages.list().empty());
  EXPECT_TRUE(spool.list().empty());
}

TEST(Messages, NoLimitWithZero) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  Messages messages(spool, 0);
  for (int n = 0; n < 5; ++n) messages.added(put(spool, n, "Subject: s\r\n\r\nx\r\n"));
  EXPECT_EQ(messages.size(), 5u);
}

}  // namespace
}  // namespace postern::testbed
