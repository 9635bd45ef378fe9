#include "policy/triplet.hpp"

#include <gtest/gtest.h>

namespace postern::policy {
namespace {

TEST(NormalizeSender, Table) {
  struct Case {
    const char* in;
    const char* want;
  } cases[] = {
      {"", "<>"},
      {"Alice@Example.ORG", "Alice@example.org"},  // local part keeps its case (RFC 5321 §2.4)
      {"SRS0=HHH=TT=orig.example=alice@forwarder.example", "alice@orig.example"},
      {"SRS0+HHH=TT=Orig.Example=alice@forwarder.example", "alice@orig.example"},
      {"srs0=abcd=Q1=orig.example=al=ice@fwd.example", "al=ice@orig.example"},
      {"SRS1=XXX=first.example==HHH=TT=orig.example=bob@second.example", "bob@orig.example"},
      {"SRS0=broken@fwd.example", "SRS0=broken@fwd.example"},
      {"prvs=1234abcdef=carol@example.com", "carol@example.com"},
      {"PRVS=0123456789=carol@example.com", "carol@example.com"},
      {"msprvs1=17abcdefgh=dave@example.com", "dave@example.com"},
      {"bounce-12345-678@lists.example", "bounce-#-#@lists.example"},
      {"list-bounces+bob=example.com@lists.example", "list-bounces@lists.example"},
      {"bounce.42.x9@lists.example", "bounce.#.x9@lists.example"},
      {"user2024@example.org", "user2024@example.org"},  // not a standalone number
      {"2024@example.org", "#@example.org"},
      {"SRS0=h=t=orig.example=bounce-77@fwd.example", "bounce-#@orig.example"},
      {"postmaster", "postmaster"},
  };
  for (auto& c : cases) EXPECT_EQ(normalize_sender(c.in), c.want) << "in: " << c.in;
}

TEST(NormalizeRecipient, LowersDomainOnly) {
  EXPECT_EQ(normalize_recipient("Bob@Example.ORG"), "Bob@example.org");
  EXPECT_EQ(normalize_recipient("bob+tag@example.org"), "bob+tag@example.org");
  EXPECT_EQ(normalize_recipient("Postmaster"), "postmaster");
}

TEST(Triplet, KeyAndStr) {
  Triplet a{"192.0.2.0/24", "a@b.example", "c@d.example"};
  Triplet b{"192.0.2.0/24", "a@b.example", "c@d.examplf"};
  EXPECT_NE(a.key(), b.key());
  EXPECT_EQ(a.str(), "192.0.2.0/24 <a@b.example> <c@d.example>");
  EXPECT_EQ((Triplet{"::/64", "<>", "x@y"}).str(), "::/64 <> <x@y>");
}

}  // namespace
}  // namespace postern::policy
