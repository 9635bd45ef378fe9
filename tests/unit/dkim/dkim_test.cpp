#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dkim/canon.hpp"
#include "dkim/key.hpp"
#include "dkim/signer.hpp"

namespace fs = std::filesystem;
using namespace postern::dkim;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("postern-dkim-" + std::to_string(::getpid()) + "-" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& text) { std::ofstream(path / name) << text; }
};

}  // namespace

TEST(DkimKey, GeneratedKeysReadBackWithTheirAlgorithm) {
  EXPECT_EQ(algorithm_of(generate(Algorithm::rsa)), Algorithm::rsa);
  EXPECT_EQ(algorithm_of(generate(Algorithm::ed25519)), Algorithm::ed25519);
  EXPECT_THROW(algorithm_of("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n"), KeyError);
  EXPECT_THROW(algorithm_of(""), KeyError);
}

TEST(DkimKey, RecordsCarryThePublicKeyAsRfc6376AndRfc8463Say) {
  const auto rsa = txt_record(generate(Algorithm::rsa));
  EXPECT_EQ(rsa.rfind("v=DKIM1; k=rsa; p=MIIBIjAN", 0), 0u) << rsa;  // SubjectPublicKeyInfo, 2048 bits
  const auto ed = txt_record(generate(Algorithm::ed25519));
  EXPECT_EQ(ed.rfind("v=DKIM1; k=ed25519; p=", 0), 0u);
  EXPECT_EQ(ed.size(), std::string("v=DKIM1; k=ed25519; p=").size() + 44);  // 32 raw octets in base64
}

TEST(DkimKey, ZoneLineSplitsLongRecordsInto255OctetStrings) {
  const std::string txt(600, 'a');
  const auto line = zone_line("example.org", "s1", txt);
  EXPECT_EQ(line.rfind("s1._domainkey.example.org. IN TXT ( \"", 0), 0u);
  EXPECT_NE(line.find("\"" + std::string(255, 'a') + "\" \"" + std::string(255, 'a') + "\" \"" + std::string(90, 'a') +
                      "\" )"),
            std::string::npos);
}

TEST(DkimKey, SelectorsAreOneLabel) {
  EXPECT_TRUE(valid_selector("rsa-20261204"));
  EXPECT_TRUE(valid_selector("s1"));
  for (const char* bad : {"", "a.b", "-a", "a-", "a b", "a/b", "a_b"}) EXPECT_FALSE(valid_selector(bad)) << bad;
  EXPECT_FALSE(valid_selector(std::string(64, 'a')));
}

TEST(DkimKey, KeysForADomainAreItsOwnFilesOnly) {
  TempDir dir;
  const auto ed = generate(Algorithm::ed25519);
  dir.write("example.org.b.key", ed);
  dir.write("Example.ORG.a.key", generate(Algorithm::rsa));
  dir.write("example.org.uk.c.key", ed);     // example.org.uk's key, selector c
  dir.write("sub.example.org.d.key", ed);    // another domain
  dir.write("example.org.e.pem", ed);        // not a .key file
  dir.write("example.org.broken.key", "junk");
  std::vector<std::string> problems;
  const auto keys = keys_for(dir.path, "example.org", &problems);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].selector, "a");
  EXPECT_EQ(keys[0].algorithm, Algorithm::rsa);
  EXPECT_EQ(keys[1].selector, "b");
  EXPECT_EQ(keys[1].algorithm, Algorithm::ed25519);
  EXPECT_EQ(keys[1].domain, "example.org");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("example.org.broken.key"), std::string::npos);
  EXPECT_TRUE(keys_for(dir.path / "missing", "example.org").empty());
}

TEST(DkimSigner, SignsWithEveryKeyInCrlfFoldedFields) {
  std::vector<SigningKey> keys{{"example.org", "r", Algorithm::rsa, generate(Algorithm::rsa)},
                               {"example.org", "e", Algorithm::ed25519, generate(Algorithm::ed25519)}};
  const std::string msg =
      "Received: from x\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.net\r\nTo: c@example.net\r\n"
      "Subject: hi\r\n\r\nbody\r\n";
  const auto fields = sign(msg, keys);
  EXPECT_EQ(fields.rfind("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n\td=example.org; s=r; t=", 0), 0u)
      << fields;
  EXPECT_NE(fields.find("\r\nDKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n\td=example.org; s=e; t="),
            std::string::npos);
  // Signed: the fields present (To twice), From: once more; never Received:.
  EXPECT_NE(fields.find("h=from:to:to:subject:from;"), std::string::npos) << fields;
  for (std::size_t start = 0, nl; (nl = fields.find("\r\n", start)) != std::string::npos; start = nl + 2)
    EXPECT_LE(nl - start, 78u);
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (fields[i] == '\n') ASSERT_EQ(fields[i - 1], '\r') << "bare LF at " << i;
  ASSERT_GE(fields.size(), 2u);
  EXPECT_EQ(fields.substr(fields.size() - 2), "\r\n");
}

TEST(DkimSigner, ABadKeyIsAnErrorNotACrash) {
  std::vector<SigningKey> keys{{"example.org", "x", Algorithm::rsa, "not a key"}};
  EXPECT_THROW(sign("From: a@example.org\r\n\r\nbody\r\n", keys), SignError);
}

TEST(DkimSigner, FromDomainIsTheFirstFromAddress) {
  EXPECT_EQ(from_domain("From: \"A, B\" <a@Example.ORG>, c@other.test\r\nSubject: x\r\n\r\nFrom: x@body.test\r\n"),
            "example.org");
  EXPECT_EQ(from_domain("Subject: none\r\n\r\nFrom: x@body.test\r\n"), "");
  EXPECT_EQ(from_domain("From: undisclosed\r\n\r\n"), "");
  EXPECT_EQ(from_domain(""), "");
}

TEST(DkimSigner, TwoFromFieldsHaveNoFromDomain) {
  EXPECT_EQ(from_domain("From: a@example.org\r\nFrom: ceo@other.test\r\n\r\nbody\r\n"), "");
  EXPECT_EQ(from_domain("From: a@example.org\r\nSubject: x\r\nfrom : ceo@other.test\r\n\r\nbody\r\n"), "");
}

// RFC 6376 §3.4.5's example, and the corners of §3.4.2 and §3.4.4.
TEST(DkimCanon, RelaxedHeaderAsTheRfcExampleShows) {
  EXPECT_EQ(relaxed_header("A: X\r\n"), "a:X\r\n");
  EXPECT_EQ(relaxed_header("B : Y\t\r\n\tZ  \r\n"), "b:Y Z\r\n");
  EXPECT_EQ(relaxed_header("Subject:   many    spaces \t \r\n"), "subject:many spaces\r\n");
  EXPECT_EQ(relaxed_header("X-Empty:\r\n"), "x-empty:\r\n");
}

TEST(DkimCanon, RelaxedBodyAsTheRfcExampleShows) {
  EXPECT_EQ(relaxed_body(" C \r\nD \t E\r\n\r\n\r\n"), " C\r\nD E\r\n");
  EXPECT_EQ(relaxed_body(""), "");
  EXPECT_EQ(relaxed_body("\r\n\r\n"), "");
  EXPECT_EQ(relaxed_body("  \t\r\n"), "");
  EXPECT_EQ(relaxed_body("no end"), "no end\r\n");
  EXPECT_EQ(relaxed_body("bare\nlf\n\n"), "bare\r\nlf\r\n");
}

TEST(DkimCanon, SplitFindsFoldedFieldsAndTheBody) {
  const auto m = split("A: 1\r\nB: 2\r\n  more\r\nA: 3\r\n\r\nbody\r\n");
  ASSERT_EQ(m.fields.size(), 3u);
  EXPECT_EQ(m.fields[1].name, "B");
  EXPECT_EQ(m.fields[1].raw, "B: 2\r\n  more\r\n");
  EXPECT_EQ(m.body, "body\r\n");
  EXPECT_TRUE(split("A: 1\r\n").body.empty());
  EXPECT_EQ(split("A: 1\nnot a field\n").body, "not a field\n");
}

TEST(DkimKey, TheCacheParsesAgainOnlyWhenAFileChanges) {
  TempDir dir;
  dir.write("example.org.a.key", generate(Algorithm::rsa));
  KeyCache cache;
  const auto first = cache.keys_for(dir.path, "example.org");
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(first[0].pkey);
  const auto again = cache.keys_for(dir.path, "example.org");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].pkey, first[0].pkey) << "unchanged: the parsed key is reused";
  dir.write("example.org.a.key", generate(Algorithm::ed25519));  // replaced (another size)
  const auto changed = cache.keys_for(dir.path, "example.org");
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].algorithm, Algorithm::ed25519);
  dir.write("example.org.a.key", "garbage");
  std::vector<std::string> problems;
  EXPECT_TRUE(cache.keys_for(dir.path, "example.org", &problems).empty());
  EXPECT_EQ(problems.size(), 1u);
  fs::remove(dir.path / "example.org.a.key");
  EXPECT_TRUE(cache.keys_for(dir.path, "example.org").empty());
}
