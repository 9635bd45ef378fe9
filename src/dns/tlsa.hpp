// DANE TLSA records (RFC 6698 §2.1, RR type 52) read from a raw DNS answer:
// c-ares has no TLSA parser. Bounded: every read is checked against the
// answer's size, names are skipped (compression pointers not followed), and
// at most max_tlsa_records records are kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::dns {

struct TlsaRecord {
  std::uint8_t usage = 0;     // 3 = DANE-EE, 2 = DANE-TA, ...
  std::uint8_t selector = 0;  // 0 full certificate, 1 SubjectPublicKeyInfo
  std::uint8_t matching = 0;  // 0 exact, 1 SHA-256, 2 SHA-512
  std::string data;           // the association data, lower-case hex
  std::string text() const;   // "3 1 1 abcd..."
};

struct TlsaParsed {
  bool authentic_data = false;  // the AD bit of the answer's header
  std::vector<TlsaRecord> records;
};

inline constexpr std::size_t max_tlsa_records = 32;

// nullopt for a malformed answer; records of other types are ignored.
std::optional<TlsaParsed> parse_tlsa_answer(std::string_view answer);

}  // namespace postern::dns
