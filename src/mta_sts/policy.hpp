// MTA-STS policies (RFC 8461): the `_mta-sts` TXT record that announces
// one (§3.1), the policy file served over HTTPS (§3.2), and which MX hosts
// a policy allows (§4.1). Parsing only; no I/O.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::mta_sts {

enum class Mode { enforce, testing, none };
std::string_view mode_name(Mode mode);

struct Policy {
  Mode mode = Mode::none;
  std::vector<std::string> mx;  // "mx.example.org" or "*.example.org", lower case
  std::chrono::seconds max_age{0};
  std::string id;               // the TXT record's id this policy was fetched for
};

// The id of the one "v=STSv1" record among `records` (§3.1: exactly one,
// id of 1 to 32 letters and digits); nullopt when there is no such record
// (or several). A malformed STS record sets *error.
std::optional<std::string> record_id(const std::vector<std::string>& records, std::string* error = nullptr);

// The policy file (§3.2): "key: value" lines ending in CRLF or LF;
// version STSv1, mode, max_age (at most 31557600) and, unless mode is
// none, at least one mx. Unknown keys are ignored. nullopt with *error
// set when it is not a valid policy.
std::optional<Policy> parse_policy(std::string_view text, std::string* error = nullptr);

// §4.1: `host` (an MX name, trailing dot allowed, any case) matches an mx
// pattern literally, or "*.example.org" by exactly one more leftmost label.
bool mx_allowed(const Policy& policy, std::string_view host);

}  // namespace postern::mta_sts
