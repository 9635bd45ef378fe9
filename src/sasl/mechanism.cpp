#include "sasl/mechanism.hpp"

#include <algorithm>

#include "util/strings.hpp"

namespace postern::sasl {

std::string_view mechanism_name(Mechanism m) {
  switch (m) {
    case Mechanism::scram_sha256_plus: return "SCRAM-SHA-256-PLUS";
    case Mechanism::scram_sha1_plus: return "SCRAM-SHA-1-PLUS";
    case Mechanism::scram_sha256: return "SCRAM-SHA-256";
    case Mechanism::scram_sha1: return "SCRAM-SHA-1";
    case Mechanism::cram_md5: return "CRAM-MD5";
    case Mechanism::plain: return "PLAIN";
    case Mechanism::login: return "LOGIN";
  }
  return "?";
}

std::optional<Mechanism> parse_mechanism(std::string_view name) {
  for (auto m : kAllMechanisms)
    if (util::iequals(name, mechanism_name(m))) return m;
  return std::nullopt;
}

bool is_plus(Mechanism m) { return m == Mechanism::scram_sha256_plus || m == Mechanism::scram_sha1_plus; }

bool is_scram(Mechanism m) {
  return m == Mechanism::scram_sha256_plus || m == Mechanism::scram_sha1_plus || m == Mechanism::scram_sha256 ||
         m == Mechanism::scram_sha1;
}

bool is_client_first(Mechanism m) { return is_scram(m) || m == Mechanism::plain; }

std::optional<Mechanism> choose_mechanism(const std::vector<std::string>& offered, bool have_channel_binding,
                                          const std::vector<Mechanism>& allowed) {
  std::optional<Mechanism> best;
  for (const auto& name : offered) {
    auto m = parse_mechanism(name);
    if (!m) continue;
    if (std::find(allowed.begin(), allowed.end(), *m) == allowed.end()) continue;
    if (is_plus(*m) && !have_channel_binding) continue;
    if (!best || static_cast<int>(*m) < static_cast<int>(*best)) best = m;
  }
  return best;
}

}  // namespace postern::sasl
