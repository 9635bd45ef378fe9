// DKIM signatures (RFC 6376): relaxed/relaxed (canon.hpp), rsa-sha256 or
// ed25519-sha256 (RFC 8463) by the key's type, with OpenSSL for the
// hashes and signatures; the fields of §5.4.1 with From: oversigned (so
// no second From: can be added later without breaking the signature); no
// l= tag. (Debian's libopendkim 2.11 beta leaks the key of every Ed25519
// signature, so the few steps of §3.7 are done here, checked against
// python3-dkim in the tests.)
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dkim/key.hpp"

namespace postern::dkim {

class SignError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The DKIM-Signature fields for `message` (headers and body), one per
// key, each folded and ending in CRLF, to be put before the message.
// Throws SignError (a key that is not what it says).
std::string sign(std::string_view message, const std::vector<SigningKey>& keys);

// The domain of the first address of the From: field, lower-cased; ""
// when there is none or when the message has more than one From: field
// (the message is not signed then).
std::string from_domain(std::string_view message);

}  // namespace postern::dkim
