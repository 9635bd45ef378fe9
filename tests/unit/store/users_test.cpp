#include "store/users.hpp"
#include "sasl/secrets.hpp"

#include <gsasl.h>
#include <gtest/gtest.h>

#include <thread>

#include "test_util.hpp"

namespace postern::store {
namespace {

using testing::TempDir;

std::string b64(const char* data, std::size_t n) {
  char* out = nullptr;
  size_t outlen = 0;
  EXPECT_EQ(gsasl_base64_to(data, n, &out, &outlen), GSASL_OK);
  std::string s(out, outlen);
  gsasl_free(out);
  return s;
}

std::string unb64(const std::string& in) {
  char* out = nullptr;
  size_t outlen = 0;
  EXPECT_EQ(gsasl_base64_from(in.data(), in.size(), &out, &outlen), GSASL_OK);
  std::string s(out, outlen);
  gsasl_free(out);
  return s;
}

TEST(CanonicalAddress, Table) {
  struct Case {
    std::string in;
    std::optional<std::string> want;
  } cases[] = {
      {"alice@example.org", "alice@example.org"},
      {"Alice@Example.ORG", "alice@example.org"},
      {"first.last+tag@sub.example.org", "first.last+tag@sub.example.org"},
      {"j\xc3\xb6rg@b\xc3\xbc" "cher.example", "j\xc3\xb6rg@b\xc3\xbc" "cher.example"},
      {"", std::nullopt},
      {"alice", std::nullopt},
      {"@example.org", std::nullopt},
      {"alice@", std::nullopt},
      {"al ice@example.org", std::nullopt},
      {"<alice@example.org>", std::nullopt},
      {"alice@exa mple.org", std::nullopt},
      {"alice@example..org", std::nullopt},
      {"alice@-example.org", std::nullopt},
      {"alice@[127.0.0.1]", std::nullopt},
      {".alice@example.org", std::nullopt},
      {"al..ice@example.org", std::nullopt},
      {"../../etc@example.org", std::nullopt},
      {"a/b@example.org", std::nullopt},
      {"a\nb@example.org", std::nullopt},
      {"a@b@example.org", std::nullopt},
      {std::string(65, 'a') + "@example.org", std::nullopt},
      {std::string(64, 'a') + "@example.org", std::string(64, 'a') + "@example.org"},
      {"a@" + std::string(64, 'b') + ".org", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(canonical_address(c.in), c.want) << "input: " << c.in;
}

TEST(UserDb, StoredScramKeysAreWhatTheSaslServerDerives) {
  TempDir t;
  UserDb db(t.path / "postern.db");
  const std::string pw = "p\xc3\xa4ssw\xc3\xb6rd";
  db.add("erin@example.org", pw);
  auto c = db.find("erin@example.org");
  ASSERT_TRUE(c);
  for (auto [hash, keys] : {std::pair{sasl::ScramHash::sha1, c->scram_sha1}, std::pair{sasl::ScramHash::sha256, c->scram_sha256}}) {
    EXPECT_GE(keys.iterations, 4096u);
    auto salt = unb64(keys.salt_b64);
    EXPECT_EQ(salt.size(), 16u);
    auto again = sasl::derive_scram_keys(hash, pw, salt, keys.iterations);
    EXPECT_EQ(again.stored_key_b64, keys.stored_key_b64);
    EXPECT_EQ(again.server_key_b64, keys.server_key_b64);
    // And independently of our code, through GNU SASL itself.
    char salted[GSASL_HASH_MAX_SIZE], ck[GSASL_HASH_MAX_SIZE], sk[GSASL_HASH_MAX_SIZE], st[GSASL_HASH_MAX_SIZE];
    auto h = hash == sasl::ScramHash::sha256 ? GSASL_HASH_SHA256 : GSASL_HASH_SHA1;
    ASSERT_EQ(gsasl_scram_secrets_from_password(h, pw.c_str(), keys.iterations, salt.data(), salt.size(), salted, ck, sk, st),
              GSASL_OK);
    EXPECT_EQ(keys.stored_key_b64, b64(st, gsasl_hash_length(h)));
    EXPECT_EQ(keys.server_key_b64, b64(sk, gsasl_hash_length(h)));
  }
  EXPECT_TRUE(sasl::verify_password(pw, c->password_hash));
  EXPECT_EQ(c->password_hash.substr(0, 3), "$y$");
}

TEST(UserDb, RefusesBadPasswords) {
  TempDir t;
  UserDb db(t.path / "postern.db");
  for (std::string pw : {std::string(), std::string("a\0b", 3), std::string("\xff\xfe")}) {
    try {
      db.add("frank@example.org", pw);
      ADD_FAILURE() << "accepted " << pw;
    } catch (const UserError& e) {
      EXPECT_EQ(e.kind, UserError::Kind::bad_password);
    }
  }
  EXPECT_FALSE(db.get("frank@example.org"));
}

TEST(UserDb, AddFindAndStates) {
  TempDir t;
  UserDb db(t.path / "postern.db");
  db.add("Alice@Example.org", "pw");
  EXPECT_THROW(db.add("alice@example.org", "other"), UserError);
  try {
    db.add("not an address", "pw");
  } catch (const UserError& e) {
    EXPECT_EQ(e.kind, UserError::Kind::bad_address);
  }
  EXPECT_THROW(db.add("bob@example.org", ""), UserError);
  auto c = db.find("ALICE@example.ORG");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->identity, "alice@example.org");
  EXPECT_TRUE(sasl::verify_password("pw", c->password_hash));
  EXPECT_FALSE(c->scram_sha1.empty());
  EXPECT_FALSE(c->scram_sha256.empty());
  EXPECT_GE(c->scram_sha256.iterations, 4096u);
  EXPECT_TRUE(c->cram_md5_secret.empty());
  EXPECT_FALSE(db.find("nobody@example.org"));
  EXPECT_FALSE(db.find("garbage"));

  db.lock("alice@example.org", "moving mailbox");
  auto u = db.get("alice@example.org");
  EXPECT_TRUE(u->locked);
  EXPECT_EQ(u->lock_reason, "moving mailbox");
  db.unlock("alice@example.org");
  EXPECT_FALSE(db.get("alice@example.org")->locked);
  db.set_quota("alice@example.org", 1024);
  EXPECT_EQ(db.get("alice@example.org")->quota_bytes, 1024u);
  db.set_disabled("alice@example.org", true);
  EXPECT_TRUE(db.get("alice@example.org")->disabled);
  EXPECT_FALSE(db.find("alice@example.org")) << "disabled users cannot log in";
  db.set_disabled("alice@example.org", false);
  EXPECT_TRUE(db.find("alice@example.org"));

  for (auto f : std::vector<std::function<void()>>{
           [&] { db.lock("nobody@example.org", ""); }, [&] { db.unlock("nobody@example.org"); },
           [&] { db.set_quota("nobody@example.org", 1); }, [&] { db.set_disabled("nobody@example.org", true); },
           [&] { db.remove("nobody@example.org"); }, [&] { db.set_password("nobody@example.org", "x"); }}) {
    try {
      f();
      ADD_FAILURE() << "no error";
    } catch (const UserError& e) {
      EXPECT_EQ(e.kind, UserError::Kind::unknown_user);
    }
  }
}

TEST(UserDb, PasswordChangeAndCramMd5) {
  TempDir t;
  UserDb db(t.path / "postern.db");
  db.add("carol@example.org", "old", true);
  EXPECT_EQ(db.find("carol@example.org")->cram_md5_secret, "old");
  auto before = db.find("carol@example.org")->scram_sha256;
  db.set_password("carol@example.org", "new");
  auto c = db.find("carol@example.org");
  EXPECT_TRUE(sasl::verify_password("new", c->password_hash));
  EXPECT_EQ(c->cram_md5_secret, "new") << "kept, with the new password";
  EXPECT_NE(c->scram_sha256.stored_key_b64, before.stored_key_b64);
  db.set_password("carol@example.org", "newer", false);
  EXPECT_EQ(db.find("carol@example.org")->cram_md5_secret, "");
  db.set_password("carol@example.org", "newest");
  EXPECT_EQ(db.find("carol@example.org")->cram_md5_secret, "");
}

TEST(UserDb, EnsureCreatesLoginlessUser) {
  TempDir t;
  UserDb db(t.path / "postern.db");
  EXPECT_TRUE(db.ensure("postmaster@example.org"));
  EXPECT_FALSE(db.ensure("postmaster@example.org"));
  EXPECT_TRUE(db.get("postmaster@example.org"));
  EXPECT_FALSE(db.get("postmaster@example.org")->has_password);
  EXPECT_FALSE(db.find("postmaster@example.org"));
}

TEST(UserDb, ChangesVisibleToOtherConnectionsAtOnce) {
  TempDir t;
  UserDb server(t.path / "postern.db");
  UserDb admin(t.path / "postern.db");
  EXPECT_FALSE(server.get("dave@example.org"));
  admin.add("dave@example.org", "pw");
  EXPECT_TRUE(server.get("dave@example.org"));
  admin.lock("dave@example.org", "r");
  EXPECT_TRUE(server.get("dave@example.org")->locked);
  admin.remove("dave@example.org");
  EXPECT_FALSE(server.find("dave@example.org"));
  EXPECT_EQ(server.list().size(), 0u);
}

TEST(UserDb, ListIsSorted) {
  TempDir t;
  UserDb db(t.path / "postern.db");
  db.ensure("b@example.org");
  db.ensure("a@example.org");
  auto l = db.list();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].address, "a@example.org");
}

}  // namespace
}  // namespace postern::store
