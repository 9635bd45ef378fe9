// What the SASL layer needs to know about a user, and the interface through
// which it asks (the session never reads the user table itself). The user
// database in store/ implements CredentialStore.
//
// Secrets follow RFC 5803: SCRAM keys are kept as salt, iteration count,
// StoredKey and ServerKey (base64), never the password. `password_hash` is a
// crypt(3) string (yescrypt, "$y$...") for PLAIN and LOGIN. `cram_md5_secret`
// is the plaintext-equivalent secret CRAM-MD5 (RFC 2195) needs; empty unless
// the user was added with --cram-md5.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace postern::sasl {

struct ScramKeys {
  std::string salt_b64;
  unsigned iterations = 0;
  std::string stored_key_b64;
  std::string server_key_b64;
  bool empty() const { return stored_key_b64.empty(); }
};

struct Credentials {
  std::string identity;  // canonical user address
  std::string password_hash;
  ScramKeys scram_sha1;
  ScramKeys scram_sha256;
  std::string cram_md5_secret;
};

// Thrown by CredentialStore::find when the store cannot answer (database
// locked or gone): the session answers 454 4.7.0, never 535.
struct StoreUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // The user with this authentication identity (case-insensitive domain), or nullopt.
  virtual std::optional<Credentials> find(std::string_view authcid) = 0;
};

}  // namespace postern::sasl
