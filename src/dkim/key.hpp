// DKIM signing keys (RFC 6376 §3.6, RFC 8463): made by `postern dkim
// keygen`, kept as PEM files `DOMAIN.SELECTOR.key` in the dkim directory
// under data_dir (0600), and published as a TXT record at
// SELECTOR._domainkey.DOMAIN.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace postern::dkim {

enum class Algorithm { rsa, ed25519 };

struct SigningKey {
  std::string domain;
  std::string selector;
  Algorithm algorithm = Algorithm::rsa;
  std::string pem;  // the private key
  std::shared_ptr<evp_pkey_st> pkey;  // `pem` parsed, when keys_for() read it (parsing costs more than signing)
};

class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A selector is one DNS label here (letters, digits, '-'), so that the
// file name DOMAIN.SELECTOR.key reads back unambiguously.
bool valid_selector(std::string_view selector);
std::filesystem::path key_file(const std::filesystem::path& dir, std::string_view domain, std::string_view selector);

// A new private key in PEM (PKCS#8): RSA 2048 bits or Ed25519.
std::string generate(Algorithm algorithm);

// What the PEM private key holds; throws KeyError when it is neither.
Algorithm algorithm_of(std::string_view pem);

// The TXT record's text for the key's public half:
// "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo>" or, for Ed25519 (RFC 8463
// §4.2), "v=DKIM1; k=ed25519; p=<the 32-byte public key>".
std::string txt_record(std::string_view pem);

// The record as a zone file line, split into strings of at most 255
// octets (RFC 1035 §3.3.14).
std::string zone_line(std::string_view domain, std::string_view selector, std::string_view txt);

// Every key file for `domain` in `dir`, in selector order; a file that is
// not a readable private key is skipped and named in `problems`.
std::vector<SigningKey> keys_for(const std::filesystem::path& dir, std::string_view domain,
                                 std::vector<std::string>* problems = nullptr);

// keys_for() that parses a file only when it is new or has changed
// (modification time, size), for the queue, which signs every message.
// One thread at a time.
class KeyCache {
 public:
  std::vector<SigningKey> keys_for(const std::filesystem::path& dir, std::string_view domain,
                                   std::vector<std::string>* problems = nullptr);

 private:
  struct Entry {
    std::filesystem::file_time_type mtime;
    std::uintmax_t size = 0;
    std::optional<SigningKey> key;
    std::string problem;
  };
  std::map<std::filesystem::path, Entry> files_;
};

}  // namespace postern::dkim
