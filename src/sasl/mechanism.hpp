// The SASL mechanisms Postern speaks, their IANA names and their strength
// order. -PLUS variants bind to the TLS channel (RFC 5802 §6, RFC 9266,
// RFC 5929); they are usable only where channel binding data exists.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::sasl {

// Declared strongest first: negotiation prefers the lower value.
enum class Mechanism {
  scram_sha256_plus,
  scram_sha1_plus,
  scram_sha256,
  scram_sha1,
  cram_md5,
  plain,
  login,
};

inline constexpr Mechanism kAllMechanisms[] = {
    Mechanism::scram_sha256_plus, Mechanism::scram_sha1_plus, Mechanism::scram_sha256, Mechanism::scram_sha1,
    Mechanism::cram_md5,          Mechanism::plain,           Mechanism::login,
};

// "SCRAM-SHA-256-PLUS", "PLAIN", ...
std::string_view mechanism_name(Mechanism m);
// Case-insensitive (RFC 4954: mechanism names are case-insensitive); nullopt when unknown.
std::optional<Mechanism> parse_mechanism(std::string_view name);

bool is_plus(Mechanism m);
bool is_scram(Mechanism m);
// Client-first mechanisms may send an initial response on the AUTH line
// (RFC 4954 §4); LOGIN and CRAM-MD5 wait for the server's first 334.
bool is_client_first(Mechanism m);

// Channel binding data of the TLS session under the SASL exchange, raw bytes.
// The server fills what applies: tls_exporter (RFC 9266, 32 bytes of keying
// material, label "EXPORTER-Channel-Binding") on TLS 1.3, and on TLS 1.2
// tls_unique (RFC 5929, the first Finished message; both may be set when the
// TLS 1.2 session has extended master secret). Empty: no TLS, no -PLUS.
struct ChannelBindings {
  std::string tls_exporter;
  std::string tls_unique;
  bool any() const { return !tls_exporter.empty() || !tls_unique.empty(); }
};

// Client side negotiation: the strongest mechanism in `offered` (names from
// the server's EHLO AUTH line, any case) that is also in `allowed`; -PLUS
// only when `have_channel_binding`. nullopt when nothing is shared.
std::optional<Mechanism> choose_mechanism(const std::vector<std::string>& offered, bool have_channel_binding,
                                          const std::vector<Mechanism>& allowed = {std::begin(kAllMechanisms),
                                                                                    std::end(kAllMechanisms)});

}  // namespace postern::sasl
