// The POP3 maildrop over the kept messages: a login's inbox, oldest first,
// UIDL the message id, removal from that inbox only.
#include "testbed/pop3_maildrop.hpp"

#include <gtest/gtest.h>

#include "pop3/reply.hpp"
#include "util/ids.hpp"

namespace postern::testbed {
namespace {

struct SpoolDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("postern-pop3-" + util::random_hex(6));
  ~SpoolDir() { std::filesystem::remove_all(path); }
};

std::string put(store::Spool& spool, Messages& messages, int n, std::vector<std::string> to) {
  store::Envelope e;
  e.reverse_path = "app@example.com";
  e.recipients = std::move(to);
  e.received_at = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000 + n));
  auto id = spool.put(e, "Subject: " + std::to_string(n) + "\r\n\r\nbody\r\n");
  messages.added(id);
  return id;
}

std::vector<std::string> uids(pop3::Maildrop& m) {
  std::vector<std::string> out;
  for (const auto& e : m.entries()) out.push_back(e.uid);
  return out;
}

TEST(InboxMaildrop, ALoginSeesItsInboxOldestFirstAndRemovesFromItOnly) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  Messages messages(spool, 0);
  const auto a = put(spool, messages, 1, {"alice@example.org", "bob@example.org"});
  const auto b = put(spool, messages, 2, {"carol@example.org"});
  const auto c = put(spool, messages, 3, {"Alice@Example.ORG"});

  WireSizes sizes;
  InboxMaildrop alice(messages, sizes, "ALICE@example.org");
  EXPECT_EQ(uids(alice), (std::vector<std::string>{a, c}));
  EXPECT_EQ(alice.entries().at(0).octets, pop3::octets(*messages.raw(a)));
  EXPECT_TRUE(alice.content(a));
  EXPECT_FALSE(alice.content(b)) << "not in alice's inbox";

  EXPECT_TRUE(alice.remove({a, c}));
  EXPECT_TRUE(uids(alice).empty());
  EXPECT_FALSE(alice.content(a)) << "gone from this inbox";
  InboxMaildrop bob(messages, sizes, "bob@example.org");
  EXPECT_EQ(uids(bob), std::vector<std::string>{a});
  EXPECT_FALSE(messages.summary(c)) << "out of its last inbox, deleted";
  EXPECT_TRUE(alice.remove({a})) << "already out: as good as removed";
}

// A message with bare LFs (as POST /api/v1/send may store one) is listed
// with the size RETR sends: every line ending CRLF.
TEST(InboxMaildrop, SizesCountCrlfLineEndings) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  Messages messages(spool, 0);
  store::Envelope e;
  e.reverse_path = "app@example.com";
  e.recipients = {"lf@example.org"};
  const auto id = messages.store(e, "Subject: lf\n\nline 1\nline 2");
  WireSizes sizes;
  InboxMaildrop lf(messages, sizes, "lf@example.org");
  ASSERT_EQ(lf.entries().size(), 1u);
  EXPECT_EQ(lf.entries()[0].octets, std::string("Subject: lf\r\n\r\nline 1\r\nline 2\r\n").size());
  EXPECT_EQ(lf.entries()[0].uid, id);
}

}  // namespace
}  // namespace postern::testbed
