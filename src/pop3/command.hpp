// POP3 command lines to values (RFC 1939 §3, §6, §7; CAPA RFC 2449; STLS
// RFC 2595; AUTH RFC 5034). parse_command() turns one line (without CRLF)
// into a Command or into the -ERR reply to send instead: malformed input
// is data, never an exception. Whether a command is allowed in the
// current state is the dialogue's business.
//
// Keywords are case-insensitive; arguments are separated by single spaces
// (RFC 1939 §3). Message numbers are decimal, at most 9 digits. PASS
// takes the rest of the line, spaces included (RFC 1939 §7: "the
// server may treat the remainder of the line as the password").
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "pop3/reply.hpp"

namespace postern::pop3 {

enum class Verb { user, pass, apop, auth, capa, stls, stat, list, uidl, top, retr, dele, rset, noop, quit };

std::string_view to_string(Verb verb);

struct Command {
  Verb verb{};
  std::string argument;               // USER name, PASS password, AUTH "MECH [initial-response]"
  std::optional<std::size_t> number;  // LIST, UIDL, TOP, RETR, DELE: the message number
  std::size_t lines = 0;              // TOP: how many body lines
};

// RFC 2449 §4: a command line is at most 255 octets with its CRLF; an
// AUTH line (with its initial response) and the answers to "+ " may
// reach 12288 (as for SMTP AUTH, RFC 4954 §4).
constexpr std::size_t max_command_octets = 255;
constexpr std::size_t max_auth_octets = 12288;

using Parsed = std::variant<Command, Reply>;

// One command line, without its CRLF.
Parsed parse_command(std::string_view line);

// The keyword of `line` when it is a POP3 verb ("USER", "RETR", ...),
// else ""; for logs, which never see arguments (PASS, AUTH).
std::string_view known_verb(std::string_view line);

}  // namespace postern::pop3
