// SCRAM against the published examples: RFC 5802 §5 (SHA-1), RFC 7677 §3
// (SHA-256) and RFC 5803 §3 (stored keys). An independent SCRAM computation
// written here with OpenSSL is first checked against the RFC transcripts,
// then used to drive the GNU SASL server stepper and to check its answers.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <map>

#include "sasl/base64.hpp"
#include "sasl/client.hpp"
#include "sasl/secrets.hpp"
#include "sasl/server.hpp"

namespace postern::sasl {
namespace {

struct Rfc {
  ScramHash hash;
  Mechanism mechanism;
  std::string client_first, server_first, client_final, server_final, salt_b64;
};

const Rfc kRfc5802{ScramHash::sha1, Mechanism::scram_sha1,
                   "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
                   "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                   "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                   "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", "QSXCR+Q6sek8bf92"};

const Rfc kRfc7677{ScramHash::sha256, Mechanism::scram_sha256,
                   "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                   "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                   "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                   "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "W22ZaJ0SNY7soEsUEjb6gQ=="};

const EVP_MD* md(ScramHash h) { return h == ScramHash::sha1 ? EVP_sha1() : EVP_sha256(); }

std::string hmac(ScramHash h, std::string_view key, std::string_view msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(md(h), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string digest(ScramHash h, std::string_view msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(msg.data(), msg.size(), out, &len, md(h), nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

// RFC 5802 §3, computed from the password.
struct Independent {
  std::string client_key, stored_key, server_key;
  Independent(ScramHash h, std::string_view password, std::string_view salt, unsigned i) {
    unsigned char salted[EVP_MAX_MD_SIZE];
    int n = EVP_MD_size(md(h));
    PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                      static_cast<int>(i), md(h), n, salted);
    std::string sp(reinterpret_cast<char*>(salted), n);
    client_key = hmac(h, sp, "Client Key");
    stored_key = digest(h, client_key);
    server_key = hmac(h, sp, "Server Key");
  }
  std::string proof(ScramHash h, std::string_view auth_message) const {
    std::string sig = hmac(h, stored_key, auth_message);
    std::string p = client_key;
    for (std::size_t k = 0; k < p.size(); ++k) p[k] ^= sig[k];
    return base64_encode(p);
  }
  std::string server_signature(ScramHash h, std::string_view auth_message) const {
    return base64_encode(hmac(h, server_key, auth_message));
  }
};

std::string auth_message(std::string_view client_first, std::string_view server_first,
                         std::string_view client_final_without_proof) {
  std::string bare(client_first.substr(3));  // drop the "n,," gs2-header
  return bare + "," + std::string(server_first) + "," + std::string(client_final_without_proof);
}

class MapStore : public CredentialStore {
 public:
  std::map<std::string, Credentials> users;
  std::optional<Credentials> find(std::string_view authcid) override {
    auto it = users.find(std::string(authcid));
    if (it == users.end()) return std::nullopt;
    return it->second;
  }
};

class ScramRfc : public ::testing::TestWithParam<Rfc> {};

TEST_P(ScramRfc, IndependentComputationMatchesTheRfc) {
  const Rfc& r = GetParam();
  Independent keys(r.hash, "pencil", *base64_decode(r.salt_b64), 4096);
  std::string without_proof = r.client_final.substr(0, r.client_final.find(",p="));
  std::string am = auth_message(r.client_first, r.server_first, without_proof);
  EXPECT_EQ("p=" + keys.proof(r.hash, am), r.client_final.substr(r.client_final.find(",p=") + 1));
  EXPECT_EQ("v=" + keys.server_signature(r.hash, am), r.server_final);
}

TEST_P(ScramRfc, DerivedKeysMatchIndependentOnes) {
  const Rfc& r = GetParam();
  ScramKeys k = derive_scram_keys(r.hash, "pencil", *base64_decode(r.salt_b64), 4096);
  Independent keys(r.hash, "pencil", *base64_decode(r.salt_b64), 4096);
  EXPECT_EQ(k.salt_b64, r.salt_b64);
  EXPECT_EQ(k.iterations, 4096u);
  EXPECT_EQ(k.stored_key_b64, base64_encode(keys.stored_key));
  EXPECT_EQ(k.server_key_b64, base64_encode(keys.server_key));
}

TEST_P(ScramRfc, ServerStepperAcceptsTheRfcClient) {
  const Rfc& r = GetParam();
  MapStore store;
  Credentials c;
  c.identity = "user";
  ScramKeys k = derive_scram_keys(r.hash, "pencil", *base64_decode(r.salt_b64), 4096);
  (r.hash == ScramHash::sha1 ? c.scram_sha1 : c.scram_sha256) = k;
  store.users["user"] = c;

  ServerStepper server(store, {"0123456789abcdef0123456789abcdef", false, {}});
  auto s1 = server.begin(r.mechanism, std::string_view(r.client_first));
  ASSERT_EQ(s1.status, ServerStepper::Status::more);
  // Same salt and count as the RFC; the nonce starts with the client's.
  std::string client_nonce = r.client_first.substr(r.client_first.find("r=") + 2);
  EXPECT_EQ(s1.challenge.rfind("r=" + client_nonce, 0), 0u) << s1.challenge;
  EXPECT_NE(s1.challenge.find(",s=" + r.salt_b64 + ",i=4096"), std::string::npos) << s1.challenge;

  std::string nonce = s1.challenge.substr(2, s1.challenge.find(',') - 2);
  std::string without_proof = "c=biws,r=" + nonce;
  std::string am = auth_message(r.client_first, s1.challenge, without_proof);
  Independent keys(r.hash, "pencil", *base64_decode(r.salt_b64), 4096);
  auto s2 = server.step(without_proof + ",p=" + keys.proof(r.hash, am));
  ASSERT_EQ(s2.status, ServerStepper::Status::more) << server.reason();
  EXPECT_EQ(s2.challenge, "v=" + keys.server_signature(r.hash, am));
  auto s3 = server.step("");
  ASSERT_EQ(s3.status, ServerStepper::Status::done);
  EXPECT_EQ(server.identity(), "user");
}

TEST_P(ScramRfc, ServerStepperRejectsAWrongProof) {
  const Rfc& r = GetParam();
  MapStore store;
  Credentials c;
  c.identity = "user";
  (r.hash == ScramHash::sha1 ? c.scram_sha1 : c.scram_sha256) =
      derive_scram_keys(r.hash, "pencil", *base64_decode(r.salt_b64), 4096);
  store.users["user"] = c;
  ServerStepper server(store, {"0123456789abcdef0123456789abcdef", false, {}});
  auto s1 = server.begin(r.mechanism, std::string_view(r.client_first));
  ASSERT_EQ(s1.status, ServerStepper::Status::more);
  std::string nonce = s1.challenge.substr(2, s1.challenge.find(',') - 2);
  std::string without_proof = "c=biws,r=" + nonce;
  Independent wrong(r.hash, "pencil2", *base64_decode(r.salt_b64), 4096);
  auto s2 = server.step(without_proof + ",p=" + wrong.proof(r.hash, auth_message(r.client_first, s1.challenge,
                                                                                   without_proof)));
  EXPECT_EQ(s2.status, ServerStepper::Status::failed);
  EXPECT_EQ(server.reason(), "bad-credentials");
}

TEST_P(ScramRfc, ClientStepperProducesAValidProofAndChecksTheSignature) {
  const Rfc& r = GetParam();
  for (bool tamper : {false, true}) {
    ClientStepper client(r.mechanism, {"user", "pencil", ""});
    auto first = client.start();
    ASSERT_EQ(first.status, ClientStepper::Status::respond);
    ASSERT_EQ(first.response.rfind("n,,n=user,r=", 0), 0u) << first.response;
    std::string cnonce = first.response.substr(first.response.find("r=") + 2);
    std::string server_first = "r=" + cnonce + "3rfcNHYJY1ZVvWVs7j,s=" + r.salt_b64 + ",i=4096";
    auto fin = client.step(server_first);
    ASSERT_EQ(fin.status, ClientStepper::Status::respond);
    std::string without_proof = fin.response.substr(0, fin.response.find(",p="));
    EXPECT_EQ(without_proof, "c=biws,r=" + cnonce + "3rfcNHYJY1ZVvWVs7j");
    Independent keys(r.hash, "pencil", *base64_decode(r.salt_b64), 4096);
    std::string am = auth_message(first.response, server_first, without_proof);
    EXPECT_EQ(fin.response.substr(fin.response.find(",p=") + 3), keys.proof(r.hash, am));
    std::string sig = keys.server_signature(r.hash, am);
    if (tamper) sig = base64_encode(std::string(r.hash == ScramHash::sha1 ? 20 : 32, 'x'));
    auto last = client.step("v=" + sig);
    if (tamper) {
      EXPECT_EQ(last.status, ClientStepper::Status::bad_server_signature);
      EXPECT_FALSE(client.complete());
    } else {
      EXPECT_EQ(last.status, ClientStepper::Status::respond);
      EXPECT_EQ(last.response, "");
      EXPECT_TRUE(client.complete());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc, ScramRfc, ::testing::Values(kRfc5802, kRfc7677),
                         [](const auto& info) { return info.param.hash == ScramHash::sha1 ? "Rfc5802Sha1" : "Rfc7677Sha256"; });

TEST(ScramRfc5803, StoredKeysOfTheExample) {
  // RFC 5803 §3: SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=
  ScramKeys k = derive_scram_keys(ScramHash::sha1, "pencil", *base64_decode("QSXCR+Q6sek8bf92"), 4096);
  EXPECT_EQ(k.stored_key_b64, "6dlGYMOdZcOPutkcNY8U2g7vK9Y=");
  EXPECT_EQ(k.server_key_b64, "D+CSWLOshSulAsxiupA+qs2/fTE=");
}

}  // namespace
}  // namespace postern::sasl
