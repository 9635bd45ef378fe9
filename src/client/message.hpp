// Message text on the client side: checking addresses and message files,
// composing a simple message (RFC 5322 headers, RFC 2047 subject), and the
// DATA transparency encoding (RFC 5321 §4.5.2). No I/O.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::client {

// RFC 5321 §4.5.2: CRLF line endings (a bare LF or CR ends a line too), a
// leading "." doubled, and the final ".\r\n" appended.
std::string dot_stuff(std::string_view message);

bool has_8bit(std::string_view s);
bool valid_utf8(std::string_view s);

// Strips one pair of surrounding angle brackets: "<a@b>" -> "a@b".
std::string_view strip_brackets(std::string_view address);
// Why `address` is not a usable mailbox (RFC 5321 §4.1.2 Mailbox, with
// RFC 6531 UTF-8), or nullopt when it is.
std::optional<std::string> address_error(std::string_view address);

// Why `message` is not a sendable RFC 5322 message (NUL bytes, a line over
// 998 octets, no header section, a malformed header line), or nullopt.
std::optional<std::string> message_error(std::string_view message);
// Same checks for a body composed into a message (no header section).
std::optional<std::string> body_error(std::string_view body);

struct Composition {
  std::string from;
  std::vector<std::string> to;
  std::string subject;
  std::string body;
  std::time_t date = 0;          // 0: now
  std::string message_id;        // empty: generated at the sender's domain
};

// From, To, Subject, Date, Message-ID, MIME-Version and a text/plain
// Content-Type, a blank line and the body, all with CRLF line endings.
std::string compose(const Composition& c);

// RFC 2047 B-encoding of a header text when it is not printable ASCII;
// encoded words stay under 76 octets and never split a UTF-8 character.
std::string encode_header_text(std::string_view text);

// RFC 5322 §3.3 date-time: "Sun, 29 Nov 2026 08:53:38 +0000".
std::string rfc5322_date(std::time_t t);

}  // namespace postern::client
