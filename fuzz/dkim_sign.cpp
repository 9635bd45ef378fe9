// DKIM signing of any message: never a crash, and every signature field
// uses CRLF line ends (it is put before the message as it is).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dkim/key.hpp"
#include "dkim/signer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postern::dkim;
  static const std::vector<SigningKey> keys{{"example.org", "f", Algorithm::ed25519, generate(Algorithm::ed25519)}};
  const std::string message(reinterpret_cast<const char*>(data), size);
  (void)from_domain(message);
  try {
    const std::string fields = sign(message, keys);
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (fields[i] == '\n' && (i == 0 || fields[i - 1] != '\r')) std::abort();
  } catch (const SignError&) {
  }
  return 0;
}
