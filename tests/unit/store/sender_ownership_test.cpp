#include "store/sender_ownership.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "store/users.hpp"
#include "test_util.hpp"

namespace postern::store {
namespace {

struct SenderOwnershipTest : ::testing::Test {
  testing::TempDir dir;
  config::Config config;
  std::unique_ptr<UserDb> users;
  std::unique_ptr<SenderOwnership> owner;

  void SetUp() override {
    config.data_dir = dir.path;
    config.hostname = "mx.x.org";
    config.local_domains = {"x.org", "y.org"};
    config.postmaster = "pm@x.org";
    config.aliases_file = dir.path / "aliases";
    std::ofstream(config.aliases_file) << "sales@x.org: alice\nteam@y.org: alice@x.org, bob@x.org\n";
    users = std::make_unique<UserDb>(dir.path / "postern.db");
    for (auto* u : {"alice@x.org", "bob@x.org", "pm@x.org"}) users->ensure(u);
    owner = std::make_unique<SenderOwnership>(*users);
  }
};

TEST_F(SenderOwnershipTest, LoginAliasesAndListedAddresses) {
  EXPECT_TRUE(owner->owns_address(config, "alice@x.org", "Alice@X.org"));
  EXPECT_TRUE(owner->owns_address(config, "alice@x.org", "sales@x.org"));
  EXPECT_TRUE(owner->owns_address(config, "bob@x.org", "team@y.org"));
  EXPECT_FALSE(owner->owns_address(config, "bob@x.org", "sales@x.org"));
  EXPECT_FALSE(owner->owns_address(config, "bob@x.org", "alice@x.org"));
  EXPECT_FALSE(owner->owns_address(config, "bob@x.org", "ceo@z.test"));
  EXPECT_TRUE(owner->owns_address(config, "pm@x.org", "postmaster@y.org"));
  EXPECT_FALSE(owner->owns_address(config, "bob@x.org", "postmaster@y.org"));
  config.postmaster = "sales@x.org";  // an alias of alice's
  EXPECT_TRUE(owner->owns_address(config, "alice@x.org", "postmaster@y.org"));
  config.postmaster = "postmaster@y.org";  // names itself: no endless chase
  EXPECT_FALSE(owner->owns_address(config, "alice@x.org", "postmaster@x.org"));
  config.postmaster = "pm@x.org";
  users->add_sender("bob@x.org", "Bob.Smith@z.test");
  EXPECT_TRUE(owner->owns_address(config, "bob@x.org", "bob.smith@z.test"));
  EXPECT_EQ(users->senders("bob@x.org"), std::vector<std::string>{"bob.smith@z.test"});
  EXPECT_THROW(users->add_sender("bob@x.org", "bob.smith@z.test"), UserError);
  EXPECT_THROW(users->add_sender("ghost@x.org", "a@z.test"), UserError);
  users->remove_sender("bob@x.org", "bob.smith@z.test");
  EXPECT_FALSE(owner->owns_address(config, "bob@x.org", "bob.smith@z.test"));
  EXPECT_THROW(users->remove_sender("bob@x.org", "bob.smith@z.test"), UserError);
}

TEST_F(SenderOwnershipTest, DomainsAreLocalDomainsOfOwnedAddresses) {
  EXPECT_TRUE(owner->owns_domain(config, "alice@x.org", "X.ORG"));
  EXPECT_TRUE(owner->owns_domain(config, "alice@x.org", "y.org"));  // team@y.org
  EXPECT_FALSE(owner->owns_domain(config, "bob@x.org", "z.test"));
  users->add_sender("bob@x.org", "bob@z.test");
  EXPECT_FALSE(owner->owns_domain(config, "bob@x.org", "z.test"));  // not a local domain
  config.aliases_file.clear();
  EXPECT_FALSE(owner->owns_domain(config, "alice@x.org", "y.org"));
  users->add_sender("alice@x.org", "alice@y.org");
  EXPECT_TRUE(owner->owns_domain(config, "alice@x.org", "y.org"));
  EXPECT_TRUE(owner->owns_domain(config, "pm@x.org", "y.org"));  // postmaster@y.org
  users->remove("alice@x.org");
  EXPECT_FALSE(owner->owns_domain(config, "alice@x.org", "y.org"));  // its senders went with it
}

}  // namespace
}  // namespace postern::store
