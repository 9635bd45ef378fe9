// Delivery status notifications (RFC 3464) for the outbound queue: the
// bounce a sender gets when a recipient fails for good, and the optional
// "still trying" warning. A DSN is a multipart/report (RFC 6522) with a
// human-readable part, a message/delivery-status part and the original
// message's header section as text/rfc822-headers (RFC 3464 §2, §6.2).
//
// The DSN travels with the null reverse-path (RFC 5321 §4.5.5) so it can
// never cause a bounce itself; callers must not build one for a message
// whose own reverse-path is null (is_bounceable()). No I/O here.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace postern::queue {

enum class DsnAction { failed, delayed, delivered };

struct DsnRecipient {
  std::string address;      // final recipient (RFC 3464 §2.3.2), without brackets
  DsnAction action = DsnAction::failed;
  std::string status;       // enhanced code "5.1.1", "4.4.7"
  std::string remote_mta;   // host name that answered; "" when none did (DNS, connect)
  std::string diagnostic;   // the reply "550 5.1.1 No such user", or our own reason when no server answered
  bool diagnostic_is_smtp = true;  // Diagnostic-Code type: smtp (a server's reply) or X-Postern (ours)
  std::string explanation;  // short meaning of the reply, for people; may be empty
  std::string when;         // the knowledge base's "When you see it"; may be empty
  std::string fix;          // its "How to fix it" for the sender; may be empty
  std::chrono::system_clock::time_point last_attempt{};  // zero: never attempted
  std::chrono::system_clock::time_point will_retry_until{};  // delayed only
};

struct DsnReport {
  std::string reporting_mta;  // our host name
  std::string queue_id;
  std::string original_sender;  // the envelope reverse-path (the DSN goes there)
  std::chrono::system_clock::time_point arrival{};
  std::string original_message;  // the bytes; only its header section is included
  std::vector<DsnRecipient> recipients;
  std::string postmaster;        // From: of the DSN; "" → MAILER-DAEMON@reporting_mta
  std::chrono::system_clock::time_point now{};
  std::string boundary;          // "" → derived from queue id and time
};

// The complete message (headers and body, CRLF line endings).
std::string build_dsn(const DsnReport& report);

// The header section of `message` (up to, not including, the blank line),
// CRLF line endings, capped at `max_octets` on a line boundary.
std::string header_section(std::string_view message, std::size_t max_octets = 64 * 1024);

// RFC 3463 status for a reply: its enhanced code, or the class default
// ("5.0.0", "4.0.0") when the reply carried none.
std::string status_for(int code, std::string_view enhanced);

// False for the null reverse-path: RFC 5321 §4.5.5, never bounce a bounce.
inline bool is_bounceable(std::string_view reverse_path) { return !reverse_path.empty(); }

}  // namespace postern::queue
