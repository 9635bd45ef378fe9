#include "dkim/key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

namespace postern::dkim {

namespace fs = std::filesystem;

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

Pkey read_private(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) throw KeyError("not a PEM private key");
  return key;
}

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool lower_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

bool valid_selector(std::string_view s) {
  return !s.empty() && s.size() <= 63 && s.front() != '-' && s.back() != '-' &&
         std::all_of(s.begin(), s.end(), lower_label_char);
}

fs::path key_file(const fs::path& dir, std::string_view domain, std::string_view selector) {
  return dir / (std::string(domain) + "." + std::string(selector) + ".key");
}

std::string generate(Algorithm algorithm) {
  Pkey key(algorithm == Algorithm::rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                                       : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) throw KeyError("key generation failed");
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw KeyError("cannot write the key as PEM");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Algorithm algorithm_of(std::string_view pem) {
  auto key = read_private(pem);
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA: return Algorithm::rsa;
    case EVP_PKEY_ED25519: return Algorithm::ed25519;
    default: throw KeyError("neither an RSA nor an Ed25519 key");
  }
}

std::string txt_record(std::string_view pem) {
  auto key = read_private(pem);
  if (algorithm_of(pem) == Algorithm::ed25519) {
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key.get(), raw, &len) != 1 || len != sizeof raw)
      throw KeyError("cannot read the Ed25519 public key");
    return "v=DKIM1; k=ed25519; p=" + base64(raw, len);
  }
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) throw KeyError("cannot encode the RSA public key");
  std::string p = base64(der, static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return "v=DKIM1; k=rsa; p=" + p;
}

std::string zone_line(std::string_view domain, std::string_view selector, std::string_view txt) {
  std::ostringstream out;
  out << selector << "._domainkey." << domain << ". IN TXT (";
  for (std::size_t pos = 0; pos < txt.size(); pos += 255) out << " \"" << txt.substr(pos, 255) << "\"";
  out << " )";
  return out.str();
}

std::vector<SigningKey> keys_for(const fs::path& dir, std::string_view domain, std::vector<std::string>* problems) {
  std::vector<SigningKey> keys;
  std::error_code ec;
  const std::string prefix = std::string(domain) + ".";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() + 4 || name.compare(name.size() - 4, 4, ".key") != 0) continue;
    // Domains compare without case (RFC 1035 §2.3.3); the file may be named either way.
    if (!std::equal(prefix.begin(), prefix.end(), name.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) ==
                                                std::tolower(static_cast<unsigned char>(b)); }))
      continue;
    const std::string selector = name.substr(prefix.size(), name.size() - prefix.size() - 4);
    if (!valid_selector(selector)) continue;  // example.org.uk.s.key is not example.org's
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream pem;
    pem << in.rdbuf();
    try {
      if (!in) throw KeyError("cannot read it");
      SigningKey k{std::string(domain), selector, algorithm_of(pem.str()), pem.str()};
      keys.push_back(std::move(k));
    } catch (const KeyError& e) {
      if (problems) problems->push_back(it->path().string() + ": " + e.what());
    }
  }
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.selector < b.selector; });
  return keys;
}

}  // namespace postern::dkim
