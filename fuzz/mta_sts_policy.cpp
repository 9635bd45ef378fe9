// MTA-STS policy files and TXT records from the network: never a crash;
// a policy that parses has what §3.2 requires.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "mta_sts/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postern::mta_sts;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (auto p = parse_policy(text, &error)) {
    if (p->mode != Mode::none && p->mx.empty()) std::abort();
    if (p->max_age.count() < 0 || p->max_age.count() > 31557600) std::abort();
    for (const auto& mx : p->mx) (void)mx_allowed(*p, mx.substr(mx.rfind('*') == 0 ? 2 : 0));
  } else if (error.empty()) {
    std::abort();
  }
  (void)record_id({text, "v=STSv1; id=abc"});
  (void)record_id({text});
  return 0;
}
