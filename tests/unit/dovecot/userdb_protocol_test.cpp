// Dovecot's auth-master USER lookup without I/O (dovecot/userdb_protocol.hpp),
// with replies as Dovecot 2.3 sends them.
#include <gtest/gtest.h>

#include "dovecot/userdb_protocol.hpp"

namespace postern::dovecot {
namespace {

std::vector<UserdbEvent> read_all(std::string_view bytes, std::size_t piece = 1 << 20) {
  UserdbReader r;
  std::vector<UserdbEvent> out;
  while (!bytes.empty()) {
    auto n = std::min(piece, bytes.size());
    r.feed(bytes.substr(0, n));
    bytes.remove_prefix(n);
    while (auto e = r.next()) out.push_back(std::move(*e));
  }
  return out;
}

TEST(UserdbProtocol, Request) {
  EXPECT_EQ(userdb_request(1, "alice@example.org"), "VERSION\t1\t0\nUSER\t1\talice@example.org\tservice=smtp\n");
  EXPECT_EQ(userdb_request(2, "a\tb"), "VERSION\t1\t0\nUSER\t2\ta\001tb\tservice=smtp\n");
}

TEST(UserdbProtocol, DovecotsAnswersInAnyPieces) {
  const std::string wire =
      "VERSION\t1\t1\nSPID\t16483\n"
      "USER\t1\talice@example.org\tuid=65534\tgid=65534\thome=/home/alice\tquota_rule=*:storage=1M\n"
      "NOTFOUND\t2\nFAIL\t3\treason=userdb lookup failed\n";
  for (std::size_t piece : {1, 3, 7, 1000}) {
    SCOPED_TRACE(piece);
    auto e = read_all(wire, piece);
    ASSERT_EQ(e.size(), 3u);
    ASSERT_TRUE(std::holds_alternative<UserFound>(e[0]));
    EXPECT_EQ(std::get<UserFound>(e[0]).id, 1u);
    EXPECT_EQ(std::get<UserFound>(e[0]).user, "alice@example.org");
    ASSERT_TRUE(std::holds_alternative<UserNotFound>(e[1]));
    EXPECT_EQ(std::get<UserNotFound>(e[1]).id, 2u);
    ASSERT_TRUE(std::holds_alternative<UserLookupFailed>(e[2]));
    EXPECT_EQ(std::get<UserLookupFailed>(e[2]).reason, "userdb lookup failed");
  }
}

TEST(UserdbProtocol, MalformedRepliesBreakTheStream) {
  for (std::string wire : {"VERSION\t2\t0\nUSER\t1\tx\n", "USER\t1\tx\n", "VERSION\t1\t1\nUSER\tone\tx\n",
                           "VERSION\t1\t1\nNOTFOUND\n", "VERSION\t1\t1\nUSER\t99999999999\tx\n"}) {
    SCOPED_TRACE(wire);
    auto e = read_all(wire);
    ASSERT_FALSE(e.empty());
    EXPECT_TRUE(std::holds_alternative<ProtocolError>(e.back()));
  }
}

TEST(UserdbProtocol, AnOverlongLineIsAnError) {
  UserdbReader r;
  r.feed("VERSION\t1\t1\n");
  r.feed(std::string(kMaxLineOctets + 10, 'x'));
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_TRUE(std::holds_alternative<ProtocolError>(*e));
  EXPECT_TRUE(r.failed());
  r.feed("NOTFOUND\t1\n");
  EXPECT_FALSE(r.next());  // nothing after the error
}

TEST(UserdbProtocol, UnknownLinesAreSkipped) {
  auto e = read_all("VERSION\t1\t1\nSPID\t1\nCUID\t5\nNOTFOUND\t4\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(std::get<UserNotFound>(e[0]).id, 4u);
}

}  // namespace
}  // namespace postern::dovecot
