#include "dkim/key.hpp"

#include "sasl/base64.hpp"

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
    return "v=DKIM1; k=ed25519; p=" + sasl::base64_encode(std::string_view(reinterpret_cast<const char*>(raw), len));
  }
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) throw KeyError("cannot encode the RSA public key");
  std::string p = sasl::base64_encode(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)));
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

namespace {

// The files of `domain` in `dir`, with the selector each names.
std::vector<std::pair<fs::path, std::string>> key_files(const fs::path& dir, std::string_view domain) {
  std::vector<std::pair<fs::path, std::string>> out;
  std::error_code ec;
  const std::string prefix = std::string(domain) + ".";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() + 4 || name.compare(name.size() - 4, 4, ".key") != 0) continue;
    // Domains compare without case (RFC 1035 §2.3.3); the file may be named either way.
    if (!std::equal(prefix.begin(), prefix.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      continue;
    std::string selector = name.substr(prefix.size(), name.size() - prefix.size() - 4);
    if (!valid_selector(selector)) continue;  // example.org.uk.s.key is not example.org's
    out.emplace_back(it->path(), std::move(selector));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

SigningKey read_key(const fs::path& file, std::string_view domain, const std::string& selector) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream pem;
  pem << in.rdbuf();
  if (!in) throw KeyError("cannot read it");
  auto parsed = read_private(pem.str());
  const int type = EVP_PKEY_get_base_id(parsed.get());
  if (type != EVP_PKEY_RSA && type != EVP_PKEY_ED25519) throw KeyError("neither an RSA nor an Ed25519 key");
  SigningKey k{std::string(domain), selector, type == EVP_PKEY_RSA ? Algorithm::rsa : Algorithm::ed25519, pem.str(),
               std::shared_ptr<evp_pkey_st>(parsed.release(), EVP_PKEY_free)};
  return k;
}

}  // namespace

std::vector<SigningKey> keys_for(const fs::path& dir, std::string_view domain, std::vector<std::string>* problems) {
  std::vector<SigningKey> keys;
  for (const auto& [file, selector] : key_files(dir, domain)) {
    try {
      keys.push_back(read_key(file, domain, selector));
    } catch (const KeyError& e) {
      if (problems) problems->push_back(file.string() + ": " + e.what());
    }
  }
  return keys;
}

std::vector<SigningKey> KeyCache::keys_for(const fs::path& dir, std::string_view domain,
                                           std::vector<std::string>* problems) {
  std::vector<SigningKey> keys;
  for (const auto& [file, selector] : key_files(dir, domain)) {
    std::error_code ec;
    const auto mtime = fs::last_write_time(file, ec);
    const auto size = ec ? 0 : fs::file_size(file, ec);
    auto it = files_.find(file);
    if (it == files_.end() || ec || it->second.mtime != mtime || it->second.size != size) {
      Entry e{mtime, size, std::nullopt, {}};
      try {
        e.key = read_key(file, domain, selector);
      } catch (const KeyError& err) {
        e.problem = file.string() + ": " + err.what();
      }
      it = files_.insert_or_assign(file, std::move(e)).first;
    }
    if (it->second.key) keys.push_back(*it->second.key);
    else if (problems) problems->push_back(it->second.problem);
  }
  return keys;
}

}  // namespace postern::dkim
