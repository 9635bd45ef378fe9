// SMTP command lines to values (RFC 5321 §4.1, with the parameters of
// SIZE RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC 6531, AUTH RFC 4954 §5,
// CHUNKING RFC 3030). parse_command() turns one line (without CRLF) into a
// Command, or into the Reply the session must send instead: malformed input
// is data, never an exception. Whether a command is allowed now (sequence,
// TLS, policy) is the session's business, not the parser's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace postern::smtp {

enum class Verb { ehlo, helo, mail, rcpt, data, bdat, rset, noop, quit, vrfy, expn, help, starttls, auth };

std::string_view to_string(Verb verb);

enum class BodyType { unspecified, seven_bit, eight_bit_mime };

struct MailParameters {
  std::optional<std::uint64_t> size;  // SIZE=; UINT64_MAX when the number overflows
  BodyType body = BodyType::unspecified;
  bool smtputf8 = false;
  std::optional<std::string> auth;    // AUTH= decoded from xtext; "<>" kept as is
};

struct Command {
  Verb verb{};
  std::string argument;      // EHLO/HELO domain, VRFY/HELP/NOOP text, AUTH "MECH [initial]"
  Path path;                 // MAIL reverse-path, RCPT forward-path
  MailParameters mail;       // MAIL only
  std::uint64_t chunk_size = 0;  // BDAT
  bool last_chunk = false;       // BDAT ... LAST
};

// Line limits (RFC 5321 §4.5.3.1.4): 512 octets with CRLF; MAIL may grow by
// what its extensions allow (SIZE 26, AUTH 500, BODY, SMTPUTF8); AUTH lines
// may reach 12288 (SPEC §5, as RFC 4954 §4 suggests).
constexpr std::size_t max_command_octets = 512;
constexpr std::size_t max_mail_octets = 512 + 26 + 500 + 64;
constexpr std::size_t max_auth_octets = 12288;
// What the line reader must allow so every limit above can be told apart.
constexpr std::size_t max_any_line_octets = max_auth_octets + 2;

using Parsed = std::variant<Command, Reply>;

// One command line, without its CRLF.
Parsed parse_command(std::string_view line);

}  // namespace postern::smtp
