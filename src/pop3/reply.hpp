// POP3 replies as values (RFC 1939 §3): "+OK text" or "-ERR text", an
// optional response code in brackets (RFC 2449 §8, RFC 3206: AUTH,
// SYS/TEMP, SYS/PERM, IN-USE), and for a multi-line reply the lines that
// follow, already byte-stuffed and ended by ".". A SASL challenge is the
// "+ " line of RFC 5034 §4. The text never holds CR or LF: whatever the
// host passes is made printable before it goes on the wire.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"

namespace postern::pop3 {

struct Reply {
  enum class Status { ok, err, challenge };
  Status status = Status::ok;
  std::string code;  // the response code without brackets: "AUTH", "SYS/TEMP"; "" for none
  std::string text;  // challenge: the base64
  std::optional<std::string> body;  // multi-line: the lines on the wire, byte-stuffed, with the final ".\r\n"

  static Reply ok(std::string text) { return {Status::ok, "", std::move(text), std::nullopt}; }
  static Reply err(std::string text, std::string code = {}) { return {Status::err, std::move(code), std::move(text), std::nullopt}; }
  static Reply challenge(std::string base64) { return {Status::challenge, "", std::move(base64), std::nullopt}; }

  bool positive() const { return status != Status::err; }
  // What goes on the wire, body included.
  std::string wire() const;
  // The first line without CRLF, for logs and transcripts.
  std::string summary() const;
};

// The POP3 form of a reply the SMTP AUTH machinery chose (server/auth.hpp):
// 2xx is +OK; 4xx is -ERR [SYS/TEMP]; 535 (bad credentials), 534, 538
// and a 421 after too many failures are -ERR [AUTH]; other 5xx plain -ERR.
// The text is the SMTP text.
Reply from_smtp(const smtp::Reply& reply);

// RFC 1939 §3: a multi-line body: every line of `message` (LF or CRLF)
// ends in CRLF, a line that starts with "." gets one more, and ".\r\n"
// ends it. With `body_lines` (TOP), the header section, the empty line
// and at most that many lines of the body.
std::string multiline(std::string_view message, std::optional<std::size_t> body_lines = std::nullopt);

// Lines of `lines`, as multiline() sends them (LIST, UIDL, CAPA).
std::string multiline_lines(const std::string& lines_crlf);

// The octets RETR sends for `message` before byte-stuffing (RFC 1939 §5
// LIST: "the exact size"): every line ending counted as CRLF, plus a
// final CRLF when the message lacks one.
std::uint64_t octets(std::string_view message);

}  // namespace postern::pop3
