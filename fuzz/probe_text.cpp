// Text `postern probe` reads from the command line and the network: the
// target, a DMARC record and a raw TLSA answer. Never a crash; a parsed port is 1..65535 and
// a DMARC policy has no upper case.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "dns/tlsa.hpp"
#include "probe/probe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postern::probe;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto t = split_target(text);
    if (t.explicit_port && t.port == 0) std::abort();
  } catch (const std::invalid_argument&) {
  }
  for (char c : dmarc_policy(text)) {
    if (c >= 'A' && c <= 'Z') std::abort();
  }
  // The same bytes as a raw DNS answer to a TLSA query.
  if (auto tlsa = postern::dns::parse_tlsa_answer(text)) {
    if (tlsa->records.size() > postern::dns::max_tlsa_records) std::abort();
    for (const auto& r : tlsa->records)
      if (r.data.size() % 2 != 0 || r.data.size() > 2 * text.size()) std::abort();
  }
  (void)looks_greylisted(postern::smtp::Reply(450, "", text));
  return 0;
}
