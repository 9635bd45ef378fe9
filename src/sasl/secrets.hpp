// Stored secrets: the slow password hash PLAIN and LOGIN check (yescrypt
// through libcrypt's crypt_rn), and SCRAM keys in RFC 5803 form (salt,
// iteration count, StoredKey, ServerKey; RFC 5802 §3), derived by GNU SASL
// so the server stepper accepts exactly what it derives. `postern user add`
// calls make_scram_keys() and hash_password(); the server never sees a
// password it stores.
#pragma once

#include <string>
#include <string_view>

#include "sasl/credentials.hpp"

namespace postern::sasl {

enum class ScramHash { sha1, sha256 };

// RFC 7677 §4: at least 4096. Every user gets this count; the fake salt of
// an unknown user (server.hpp) advertises the same, so the two look alike.
inline constexpr unsigned kScramIterations = 4096;
inline constexpr std::size_t kScramSaltOctets = 16;

// SaltedPassword = Hi(SASLprep(password), salt, i); StoredKey = H(HMAC(SaltedPassword,
// "Client Key")); ServerKey = HMAC(SaltedPassword, "Server Key"), all base64.
// `salt` is raw bytes. Throws std::invalid_argument when SASLprep rejects the password.
ScramKeys derive_scram_keys(ScramHash hash, std::string_view password, std::string_view salt, unsigned iterations);

// derive_scram_keys() with kScramSaltOctets fresh random bytes of salt.
ScramKeys make_scram_keys(ScramHash hash, std::string_view password, unsigned iterations = kScramIterations);

// A new yescrypt crypt(3) string ("$y$...") with libcrypt's default cost.
// Throws std::invalid_argument for a password with a NUL byte, std::runtime_error
// when libcrypt fails.
std::string hash_password(std::string_view password);

// True when `password` matches the crypt(3) string `hash`; the comparison of
// the computed and stored strings is constant-time. False for a malformed hash.
bool verify_password(std::string_view password, std::string_view hash);

// A yescrypt hash of a random password, made once per process: unknown users
// are checked against it so they cost what a wrong password costs.
const std::string& dummy_password_hash();

// Overwrites the string's bytes (OPENSSL_cleanse) and clears it.
void wipe(std::string& secret);
void wipe(Credentials& credentials);

}  // namespace postern::sasl
