// The grammar of the SMTP AUTH exchange (RFC 4954), no I/O:
//   AUTH SP sasl-mech [SP initial-response]    (§4; "=" is an empty response)
//   a client's answer to a 334: base64, or "*" to cancel
//   MAIL FROM's AUTH=xtext parameter (§5)
// The server maps the results to the replies of SPEC §5; the client uses
// encode_response() for what it sends.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace postern::sasl {

// RFC 4954 §4: the longest AUTH command or response line we accept, CRLF
// included ("500 5.5.6" beyond it). RFC 4954 requires at least 12288.
inline constexpr std::size_t kMaxAuthLineOctets = 12288;

struct AuthCommand {
  std::string mechanism;                          // as sent (compare case-insensitively)
  std::optional<std::string> initial_response;    // the token as sent: base64, "=" or "*"
};

enum class AuthSyntaxError {
  missing_mechanism,  // "AUTH" alone
  bad_mechanism,      // not 1-20 of [A-Za-z0-9-_] (RFC 4422 §3.1)
  extra_arguments,    // more than mechanism and initial response
};

// `arguments` is what follows "AUTH " on the command line (no CRLF).
std::variant<AuthCommand, AuthSyntaxError> parse_auth_command(std::string_view arguments);

// A decoded client response: the bytes, or a cancel ("*"), or undecodable.
struct Cancelled {};
struct BadBase64 {};
using Response = std::variant<std::string, Cancelled, BadBase64>;

// A response line to a 334 (no CRLF): "*" cancels, "" is an empty response,
// anything else must be strict base64 (base64.hpp).
Response decode_response(std::string_view line);

// An initial response token from the AUTH line: like decode_response(), plus
// "=" for the empty response (RFC 4954 §4); an empty token is bad.
Response decode_initial_response(std::string_view token);

// What a client sends: base64 of `bytes`; for an initial response on the
// AUTH line, "=" when `bytes` is empty.
std::string encode_response(std::string_view bytes, bool initial);

// RFC 4954 §5 MAIL FROM:<...> AUTH=<value>: "<>" gives "" (unknown
// identity), otherwise the xtext (RFC 3461 §4) is decoded into the
// addr-spec. nullopt when it is not valid xtext or decodes to non-printable bytes.
std::optional<std::string> parse_mail_auth_parameter(std::string_view value);
// The xtext form of an identity for the AUTH= parameter ("<>" when empty).
std::string encode_mail_auth_parameter(std::string_view identity);

}  // namespace postern::sasl
