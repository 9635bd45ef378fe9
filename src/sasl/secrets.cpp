#include "sasl/secrets.hpp"

#include <crypt.h>
#include <gsasl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

#include "sasl/base64.hpp"
#include "sasl/gsasl_context.hpp"

namespace postern::sasl {
namespace {

Gsasl_hash gsasl_hash(ScramHash hash) { return hash == ScramHash::sha1 ? GSASL_HASH_SHA1 : GSASL_HASH_SHA256; }

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("no random bytes from OpenSSL");
  return out;
}

// crypt_data is large (~32 KiB): keep it off the coroutine stacks.
struct CryptData {
  crypt_data data{};
  ~CryptData() { OPENSSL_cleanse(&data, sizeof data); }
};

}  // namespace

ScramKeys derive_scram_keys(ScramHash hash, std::string_view password, std::string_view salt, unsigned iterations) {
  detail::context();
  if (password.find('\0') != std::string_view::npos) throw std::invalid_argument("password contains a NUL byte");
  if (iterations == 0) throw std::invalid_argument("SCRAM iteration count must be positive");
  std::string pw(password);
  char salted[GSASL_HASH_MAX_SIZE], client_key[GSASL_HASH_MAX_SIZE], server_key[GSASL_HASH_MAX_SIZE],
      stored_key[GSASL_HASH_MAX_SIZE];
  int rc = gsasl_scram_secrets_from_password(gsasl_hash(hash), pw.c_str(), iterations, salt.data(), salt.size(),
                                             salted, client_key, server_key, stored_key);
  wipe(pw);
  const std::size_t n = gsasl_hash_length(gsasl_hash(hash));
  ScramKeys keys;
  if (rc == GSASL_OK) {
    keys.salt_b64 = base64_encode(salt);
    keys.iterations = iterations;
    keys.stored_key_b64 = base64_encode(std::string_view(stored_key, n));
    keys.server_key_b64 = base64_encode(std::string_view(server_key, n));
  }
  OPENSSL_cleanse(salted, sizeof salted);
  OPENSSL_cleanse(client_key, sizeof client_key);
  OPENSSL_cleanse(server_key, sizeof server_key);
  OPENSSL_cleanse(stored_key, sizeof stored_key);
  if (rc != GSASL_OK) throw std::invalid_argument(std::string("password rejected: ") + gsasl_strerror(rc));
  return keys;
}

ScramKeys make_scram_keys(ScramHash hash, std::string_view password, unsigned iterations) {
  return derive_scram_keys(hash, password, random_bytes(kScramSaltOctets), iterations);
}

std::string hash_password(std::string_view password) {
  if (password.find('\0') != std::string_view::npos) throw std::invalid_argument("password contains a NUL byte");
  std::string random = random_bytes(32);
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$y$", 0, random.data(), static_cast<int>(random.size()), setting, sizeof setting) == nullptr)
    throw std::runtime_error("crypt_gensalt_rn failed for yescrypt");
  auto data = std::make_unique<CryptData>();
  std::string pw(password);
  const char* out = crypt_rn(pw.c_str(), setting, &data->data, sizeof data->data);
  wipe(pw);
  if (out == nullptr || out[0] == '*') throw std::runtime_error("crypt_rn failed for yescrypt");
  return std::string(out);
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (hash.empty() || hash[0] == '*' || password.find('\0') != std::string_view::npos ||
      hash.find('\0') != std::string_view::npos)
    return false;
  auto data = std::make_unique<CryptData>();
  std::string pw(password);
  std::string setting(hash);
  const char* out = crypt_rn(pw.c_str(), setting.c_str(), &data->data, sizeof data->data);
  wipe(pw);
  if (out == nullptr || out[0] == '*') return false;
  std::string_view got(out);
  return got.size() == hash.size() && CRYPTO_memcmp(got.data(), hash.data(), hash.size()) == 0;
}

const std::string& dummy_password_hash() {
  static const std::string hash = [] {
    std::string pw = base64_encode(random_bytes(18));
    std::string h = hash_password(pw);
    wipe(pw);
    return h;
  }();
  return hash;
}

void wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

void wipe(Credentials& c) {
  wipe(c.password_hash);
  wipe(c.cram_md5_secret);
  for (ScramKeys* k : {&c.scram_sha1, &c.scram_sha256}) {
    wipe(k->stored_key_b64);
    wipe(k->server_key_b64);
    wipe(k->salt_b64);
  }
}

}  // namespace postern::sasl
