// libFuzzer target for the policy parsers that read untrusted text: the
// envelope sender normaliser (SRS, BATV, VERP), allow entries (from config
// and the command line), addresses and CIDR blocks, and store URLs.
// Invariants checked: no crash; normalising is idempotent for the domain
// case; a parsed allow entry re-parses to itself; a CIDR block contains its
// own base address.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "policy/allow.hpp"
#include "policy/network.hpp"
#include "policy/redis_store.hpp"
#include "policy/triplet.hpp"

using namespace postern::policy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto sender = normalize_sender(in);
  if (sender.empty()) std::abort();  // "<>" at least
  normalize_recipient(in);
  try {
    auto e = AllowEntry::parse(in);
    if (AllowEntry::parse(e.text).text != e.text) std::abort();
  } catch (const std::invalid_argument&) {
  }
  if (auto c = Cidr::parse(in)) {
    if (!c->contains(c->base)) std::abort();
    if (Cidr::parse(c->str())->str() != c->str()) std::abort();
  }
  if (auto a = Address::parse(in)) client_network(*a, 24, 64);
  try {
    RedisUrl::parse(in);
  } catch (const StoreError&) {
  }
  return 0;
}
