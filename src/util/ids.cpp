#include "util/ids.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace postern::util {

std::string random_hex(std::size_t n_bytes) {
  std::vector<unsigned char> buf(n_bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n_bytes * 2);
  for (auto b : buf) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::uint32_t random_u32() {
  std::uint32_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) throw std::runtime_error("RAND_bytes failed");
  return v;
}

}  // namespace postern::util
