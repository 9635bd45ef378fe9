#include "queue/dsn.hpp"

#include <algorithm>
#include <ctime>

#include "util/ids.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace postern::queue {

namespace {

// Keeps field values on one line, ASCII and printable: a reply text or
// address from a remote server must not inject fields or parts, nor reach
// the reader's terminal raw; what it held is escaped, never dropped.
std::string field(std::string_view s, std::size_t max = 900) { return util::printable_ascii(s, max); }

std::string action_name(DsnAction a) {
  switch (a) {
    case DsnAction::failed: return "failed";
    case DsnAction::delayed: return "delayed";
    case DsnAction::delivered: return "delivered";
  }
  return "failed";
}

// A type;value field whose value may be long: folded at spaces (RFC 5322 §2.2.3).
std::string folded(std::string_view name, std::string_view value) {
  std::string line = std::string(name) + ": " + std::string(value);
  std::string out;
  std::size_t col = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    std::size_t sp = line.find(' ', i + 1);
    std::size_t end = sp == std::string::npos ? line.size() : sp;
    std::string_view word(line.data() + i, end - i);
    if (col > 0 && col + word.size() > 76 && word.front() == ' ') {
      out += "\r\n ";
      word.remove_prefix(1);
      col = 1;
    }
    out += word;
    col += word.size();
    i = end;
  }
  return out + "\r\n";
}

// "    Label: text" for people, wrapped at 76 columns under the text.
std::string wrapped(std::string_view label, std::string_view text) {
  std::string out = "    " + std::string(label) + ":";
  std::size_t col = out.size();
  for (std::size_t i = 0; i < text.size();) {
    while (i < text.size() && text[i] == ' ') ++i;
    const std::size_t end = std::min(text.find(' ', i), text.size());
    if (end == i) break;
    const std::string_view word = text.substr(i, end - i);
    if (col + 1 + word.size() > 76 && col > 6) {
      out += "\r\n      ";
      col = 6;
    } else {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
    i = end;
  }
  return out + "\r\n";
}

}  // namespace

std::string status_for(int code, std::string_view enhanced) {
  if (enhanced.size() >= 5 && enhanced[0] == static_cast<char>('0' + code / 100)) return std::string(enhanced);
  if (code >= 500) return "5.0.0";
  if (code >= 400) return "4.0.0";
  return "2.0.0";
}

std::string header_section(std::string_view message, std::size_t max_octets) {
  std::string out;
  std::size_t i = 0;
  while (i < message.size()) {
    std::size_t nl = message.find('\n', i);
    std::size_t end = nl == std::string_view::npos ? message.size() : nl;
    std::string_view line = message.substr(i, end - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (out.size() + line.size() + 2 > max_octets) break;
    out.append(line).append("\r\n");
    if (nl == std::string_view::npos) break;
    i = nl + 1;
  }
  return out;
}

std::string build_dsn(const DsnReport& r) {
  bool any_failed = false;
  for (const auto& rcpt : r.recipients) any_failed = any_failed || rcpt.action == DsnAction::failed;
  const std::string from =
      r.postmaster.empty() ? "MAILER-DAEMON@" + r.reporting_mta : r.postmaster;
  const std::string boundary =
      r.boundary.empty() ? r.queue_id + "." + util::random_hex(8) + "/" +
                               r.reporting_mta
                         : r.boundary;

  std::string m;
  m += "From: Mail Delivery System <" + field(from) + ">\r\n";
  m += "To: <" + field(r.original_sender) + ">\r\n";
  m += any_failed ? "Subject: Undelivered Mail Returned to Sender\r\n"
                  : "Subject: Delayed Mail (still being retried)\r\n";
  m += "Date: " + util::rfc5322_date(r.now) + "\r\n";
  m += "Message-ID: <" + r.queue_id + "." + util::random_hex(6) + "@" + field(r.reporting_mta) + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  // 1. For people (RFC 3464 §6.2 / RFC 6522: the first part).
  m += "--" + boundary + "\r\n";
  m += "Content-Description: Notification\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  m += "This is the mail system at host " + field(r.reporting_mta) + ".\r\n\r\n";
  if (any_failed) {
    m += "I'm sorry to have to inform you that your message could not\r\n"
         "be delivered to one or more recipients. It's attached below.\r\n\r\n";
  } else {
    m += "Your message could not be delivered yet to one or more recipients.\r\n"
         "The mail system will keep trying; you do not need to send it again.\r\n\r\n";
  }
  for (const auto& rcpt : r.recipients) {
    m += "<" + field(rcpt.address) + ">: ";
    if (!rcpt.remote_mta.empty() && rcpt.diagnostic_is_smtp)
      m += "host " + field(rcpt.remote_mta) + " said: " + field(rcpt.diagnostic) + "\r\n";
    else
      m += field(rcpt.diagnostic) + "\r\n";
    if (!rcpt.explanation.empty()) m += wrapped("Meaning", field(rcpt.explanation));
    if (!rcpt.when.empty()) m += wrapped("When you see it", field(rcpt.when, 2000));
    if (!rcpt.fix.empty()) m += wrapped("How to fix it", field(rcpt.fix, 2000));
    if (rcpt.action == DsnAction::delayed && rcpt.will_retry_until.time_since_epoch().count() != 0)
      m += "    Will keep trying until: " + util::rfc5322_date(rcpt.will_retry_until) + "\r\n";
    m += "\r\n";
  }

  // 2. For programs (RFC 3464 §2.2 per-message, §2.3 per-recipient fields).
  m += "--" + boundary + "\r\n";
  m += "Content-Description: Delivery report\r\n";
  m += "Content-Type: message/delivery-status\r\n\r\n";
  m += "Reporting-MTA: dns; " + field(r.reporting_mta) + "\r\n";
  m += "X-Postern-Queue-ID: " + field(r.queue_id) + "\r\n";
  m += "Arrival-Date: " + util::rfc5322_date(r.arrival) + "\r\n";
  for (const auto& rcpt : r.recipients) {
    m += "\r\n";
    m += "Final-Recipient: rfc822; " + field(rcpt.address) + "\r\n";
    m += "Action: " + action_name(rcpt.action) + "\r\n";
    m += "Status: " + field(rcpt.status, 16) + "\r\n";
    if (!rcpt.remote_mta.empty()) m += "Remote-MTA: dns; " + field(rcpt.remote_mta) + "\r\n";
    if (!rcpt.diagnostic.empty())
      m += folded("Diagnostic-Code", (rcpt.diagnostic_is_smtp ? "smtp; " : "X-Postern; ") + field(rcpt.diagnostic));
    if (rcpt.last_attempt.time_since_epoch().count() != 0)
      m += "Last-Attempt-Date: " + util::rfc5322_date(rcpt.last_attempt) + "\r\n";
    if (rcpt.action == DsnAction::delayed && rcpt.will_retry_until.time_since_epoch().count() != 0)
      m += "Will-Retry-Until: " + util::rfc5322_date(rcpt.will_retry_until) + "\r\n";
  }
  m += "\r\n";

  // 3. The original header section (RFC 3462 text/rfc822-headers).
  m += "--" + boundary + "\r\n";
  m += "Content-Description: Undelivered Message Headers\r\n";
  m += "Content-Type: text/rfc822-headers\r\n";
  m += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  m += header_section(r.original_message);
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

}  // namespace postern::queue
