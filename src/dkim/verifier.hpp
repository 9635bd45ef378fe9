// DKIM verification (RFC 6376 §6, RFC 8463, RFC 8301), without I/O: the
// DKIM-Signature field and the key record as parsed values, the body hash
// as the body streams past (BodyHasher, so the message need not be held),
// and the check of one signature given its key record's text. The DNS
// lookup of the key (SELECTOR._domainkey.DOMAIN) is the caller's.
//
// Accepted: rsa-sha256 (keys of 1024 bits and more, RFC 8301) and
// ed25519-sha256; simple and relaxed canonicalization; l= (only the first
// l octets of the canonical body count), t= and x=. rsa-sha1 is refused
// (RFC 8301 §3.1).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dkim/canon.hpp"

namespace postern::dkim {

// RFC 6376 §3.2 tag=value list: names as written (case-sensitive), values
// with surrounding white space trimmed; nullopt when malformed or a tag repeats.
std::optional<std::map<std::string, std::string>> parse_tag_list(std::string_view text);

struct Signature {
  std::string algorithm;  // "rsa-sha256" or "ed25519-sha256"
  std::string b;          // the signature, decoded
  std::string b_text;     // its base64, white space removed (for header.b, RFC 6008)
  std::string bh;         // the body hash, decoded
  bool relaxed_header = false, relaxed_body = false;
  std::string domain;     // d=, lower case
  std::string selector;   // s=
  std::string identity;   // i= (default "@" + d=)
  std::vector<std::string> headers;  // h=, lower case, in order
  std::optional<std::uint64_t> length;  // l=
  std::optional<long long> timestamp;   // t=
  std::optional<long long> expires;     // x=
};

// The value of a DKIM-Signature field (after "DKIM-Signature:"), or why not.
std::variant<Signature, std::string> parse_signature(std::string_view value);

struct KeyRecord {
  std::string type = "rsa";     // k=
  std::string key;              // p=, decoded; empty: revoked
  std::vector<std::string> hashes;  // h=; empty = any
  bool testing = false;         // t=y
  bool strict = false;          // t=s: i= must be d= itself
};

// A key record's TXT text (RFC 6376 §3.6.1), or why it is unusable.
std::variant<KeyRecord, std::string> parse_key_record(std::string_view text);

// The body hash of one signature: canonicalizes and hashes (SHA-256) what
// it is fed, as it comes, up to l= octets.
class BodyHasher {
 public:
  BodyHasher(bool relaxed, std::optional<std::uint64_t> limit);
  ~BodyHasher();
  BodyHasher(BodyHasher&&) noexcept;
  BodyHasher& operator=(BodyHasher&&) noexcept;
  void feed(std::string_view body);
  // The digest; call once, after the whole body.
  std::string finish();
  // Canonical body octets seen (all of them, l= or not), after finish().
  std::uint64_t canonical_length() const { return length_; }

 private:
  void emit(std::string_view s);
  void emit_char(char c);
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool relaxed_;
  std::optional<std::uint64_t> limit_;
  std::uint64_t length_ = 0;
  std::uint64_t empty_lines_ = 0;
  bool line_has_content_ = false;
  bool wsp_ = false;
  bool cr_ = false;
  std::string out_;
};

enum class Result { pass, fail, neutral, policy, temperror, permerror };
std::string_view to_string(Result result);

struct Verification {
  Result result = Result::permerror;
  std::string reason;  // "" on pass; a few words otherwise ("body hash mismatch")
};

// Checks `signature`, whose field is fields[signature_index] of the
// message's header section, against its key record (`key_record`: the TXT
// text) and the body hash computed with its BodyHasher. `now`: Unix time.
Verification verify(const Signature& signature, const std::vector<Field>& fields, std::size_t signature_index,
                    std::string_view key_record, const std::string& body_hash, std::uint64_t canonical_body_length,
                    long long now);

// "simple" header canonicalization: the field as it is (RFC 6376 §3.4.1).
// The DKIM-Signature field with its b= value removed (§3.7), canonicalized.
std::string signature_field_for_hashing(std::string_view raw_field, bool relaxed);

}  // namespace postern::dkim
