#include "store/aliases.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "store/srs.hpp"

namespace postern::store {
namespace {

using namespace std::chrono_literals;

TEST(ParseAliases, EntriesContinuationsAndBareNames) {
  auto t = parse_aliases("# c\nTeam@Example.org: alice, Bob@example.org,\n  carol\n@example.net: postmaster@example.org\n");
  EXPECT_TRUE(t.errors.empty());
  ASSERT_EQ(t.entries.size(), 2u);
  EXPECT_EQ(t.entries["team@example.org"],
            (std::vector<std::string>{"alice@example.org", "bob@example.org", "carol@example.org"}));
  EXPECT_EQ(t.entries["@example.net"], (std::vector<std::string>{"postmaster@example.org"}));
}

TEST(ParseAliases, EveryMalformedLineIsNamedAndSkipped) {
  auto t = parse_aliases("a@x.org: |cmd\nb@x.org: /tmp/f\nc@x.org: :include:/l\nno colon\nd@x.org:\n"
                         "bad addr@x.org: a\ne@x.org: @x.org\n  orphan\nf@x.org: a\nf@x.org: b\nok@x.org: a\n");
  ASSERT_EQ(t.entries.size(), 2u);  // f (first) and ok
  std::vector<std::size_t> lines;
  for (auto& e : t.errors) lines.push_back(e.line);
  EXPECT_EQ(lines, (std::vector<std::size_t>{1, 2, 3, 4, 5, 6, 7, 10}));
}

struct AliasesFixture : ::testing::Test {
  std::filesystem::path file = std::filesystem::temp_directory_path() / ("aliases-test-" + std::to_string(::getpid()));
  Aliases aliases;
  Aliases::Lookup lookup{[](std::string_view d) { return d == "x.org"; },
                         [](std::string_view a) { return a == "alice@x.org" || a == "bob@x.org"; }, nullptr};
  void write(const std::string& text) { std::ofstream(file) << text; }
  void TearDown() override { std::filesystem::remove(file); }
};

TEST_F(AliasesFixture, ExpandsRecursivelyToMailboxesAndForwards) {
  write("list@x.org: team, out@y.org\nteam@x.org: alice, bob, alice\nalice@x.org: alice, copy@y.org\n");
  auto e = aliases.expand(file, "LIST@x.org", lookup);
  EXPECT_EQ(e.kind, Expansion::Kind::expanded);
  EXPECT_EQ(e.mailboxes, (std::vector<std::string>{"alice@x.org", "bob@x.org"}));
  EXPECT_EQ(e.forwards, (std::vector<std::string>{"copy@y.org", "out@y.org"}));
  EXPECT_EQ(aliases.expand(file, "bob@x.org", lookup).kind, Expansion::Kind::none);
}

TEST_F(AliasesFixture, LoopsAndDepthAreRefused) {
  write("a@x.org: b\nb@x.org: c\nc@x.org: a\n");
  auto e = aliases.expand(file, "a@x.org", lookup);
  EXPECT_EQ(e.kind, Expansion::Kind::loop);
  EXPECT_EQ(e.detail, "a@x.org -> b@x.org -> c@x.org -> a@x.org");
  std::string chain;
  for (int i = 0; i < 30; ++i) chain += "n" + std::to_string(i) + "@x.org: n" + std::to_string(i + 1) + "\n";
  write(chain);
  EXPECT_EQ(aliases.expand(file, "n0@x.org", lookup).kind, Expansion::Kind::loop);
}

TEST_F(AliasesFixture, CatchAllOnlyWhenNoUserOrAlias) {
  write("@x.org: bob\nexact@x.org: alice\n");
  EXPECT_EQ(aliases.expand(file, "alice@x.org", lookup).kind, Expansion::Kind::none);
  EXPECT_EQ(aliases.expand(file, "exact@x.org", lookup).mailboxes, (std::vector<std::string>{"alice@x.org"}));
  EXPECT_EQ(aliases.expand(file, "who@x.org", lookup).mailboxes, (std::vector<std::string>{"bob@x.org"}));
}

TEST_F(AliasesFixture, AbsentFileIsEmpty) {
  EXPECT_EQ(aliases.expand(file, "a@x.org", lookup).kind, Expansion::Kind::none);
  EXPECT_EQ(aliases.expand({}, "a@x.org", lookup).kind, Expansion::Kind::none);
}

TEST(Srs, ForwardAndReverse) {
  Srs srs(std::string(64, 'k'));
  const auto now = std::chrono::system_clock::now();
  auto fwd = srs.forward("Ext@sender.test", "ours.test", now);
  ASSERT_EQ(fwd.rfind("SRS0=", 0), 0u);
  const auto local = fwd.substr(0, fwd.rfind('@'));
  EXPECT_EQ(srs.reverse(local, now), "Ext@sender.test");
  std::string lower = local;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(srs.reverse(lower, now), "ext@sender.test");  // a peer lower-cased it
  EXPECT_FALSE(srs.reverse(local, now + std::chrono::hours(24 * 22)));  // too old
  std::string forged = local;
  forged[5] = forged[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(srs.reverse(forged, now));
  EXPECT_FALSE(Srs(std::string(64, 'o')).reverse(local, now));  // another secret
  EXPECT_FALSE(srs.reverse("SRS0=broken", now));
  // Forwarded again elsewhere: SRS1 names the first forwarder.
  auto again = srs.forward(fwd, "third.test", now);
  ASSERT_EQ(again.rfind("SRS1=", 0), 0u);
  EXPECT_EQ(srs.reverse(again.substr(0, again.rfind('@')), now), fwd.substr(0, fwd.rfind('@')) + "@ours.test");
  EXPECT_EQ(srs.forward("", "ours.test", now), "");
}

// A sender whose local part only looks like SRS1 (no first forwarder before
// "==") must get an SRS0 of its own: kept as it was, its bounce could not be
// reversed (found by the store_aliases fuzz target).
TEST(Srs, MalformedSrs1SenderRoundTrips) {
  Srs srs(std::string(32, 's'));
  const std::string sender = std::string("SRS1=AAAAAAtAA\xb5===ARS1=AAAAAAA=AtAA\xb5=") + "@sender.test";
  const auto fwd = srs.forward(sender, "ours.test");
  ASSERT_EQ(fwd.rfind("SRS0=", 0), 0u) << fwd;
  EXPECT_EQ(srs.reverse(fwd.substr(0, fwd.rfind('@'))), sender);
  EXPECT_EQ(srs.forward("someone@", "ours.test"), "someone@");  // no domain to bounce to
}

TEST_F(AliasesFixture, SrsAddressReversesToTheSenderAndIsMarked) {
  Srs srs(std::string(32, 'k'));
  auto with_srs = lookup;
  with_srs.srs_reverse = [&](std::string_view local) { return srs.reverse(local); };
  const auto fwd = srs.forward("ext@sender.test", "x.org");
  auto e = aliases.expand(file, fwd, with_srs);
  EXPECT_EQ(e.kind, Expansion::Kind::expanded);
  EXPECT_TRUE(e.srs);
  EXPECT_EQ(e.forwards, (std::vector<std::string>{"ext@sender.test"}));
  EXPECT_FALSE(aliases.expand(file, "alice@x.org", with_srs).srs);
  EXPECT_EQ(aliases.expand(file, "SRS0=AAAAAA=AA=y.org=forged@x.org", with_srs).kind, Expansion::Kind::invalid);
}

// A chain that passed this server twice: our SRS1 names our own SRS0,
// which is reversed again to the original sender, not kept as a mailbox.
TEST_F(AliasesFixture, SrsOfOurOwnSrsIsReversedAgainBounded) {
  Srs srs(std::string(32, 'k'));
  auto with_srs = lookup;
  with_srs.srs_reverse = [&](std::string_view local) { return srs.reverse(local); };
  const auto first = srs.forward("ext@sender.test", "x.org");     // SRS0=...@x.org
  const auto other = "SRS1=ZZZZ=x.org=" + first.substr(4, first.rfind('@') - 4) + "@other.test";  // the peer's form
  const auto second = srs.forward(other, "x.org");                // SRS1=...=x.org==...@x.org
  ASSERT_EQ(second.rfind("SRS1=", 0), 0u) << second;
  auto e = aliases.expand(file, second, with_srs);
  EXPECT_EQ(e.kind, Expansion::Kind::expanded);
  EXPECT_EQ(e.mailboxes, std::vector<std::string>{});
  EXPECT_EQ(e.forwards, (std::vector<std::string>{"ext@sender.test"}));
  // A reversal that never ends (each step an SRS address of ours) stops.
  Aliases::Lookup endless = lookup;
  endless.srs_reverse = [](std::string_view) { return std::optional<std::string>("SRS0=a=b=c=d@x.org"); };
  EXPECT_EQ(aliases.expand(file, "SRS0=a=b=c=d@x.org", endless).kind, Expansion::Kind::invalid);
}

TEST_F(AliasesFixture, KeysInDomainAndCatchAllExpansion) {
  write("@x.org: bob\nexact@x.org: alice\nfar@y.org: alice\n");
  EXPECT_EQ(aliases.keys_in_domain(file, "X.org"), (std::vector<std::string>{"@x.org", "exact@x.org"}));
  EXPECT_EQ(aliases.expand(file, "@x.org", lookup).mailboxes, (std::vector<std::string>{"bob@x.org"}));
}

}  // namespace
}  // namespace postern::store
