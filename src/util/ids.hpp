// Random identifiers: session ids, queue ids, Maildir unique parts.
#pragma once

#include <cstdint>
#include <string>

namespace postern::util {

// n random bytes from the OpenSSL CSPRNG as 2n lower-case hex digits.
std::string random_hex(std::size_t n_bytes);
// 32 random bits from the same generator.
std::uint32_t random_u32();

}  // namespace postern::util
