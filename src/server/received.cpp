#include "server/received.hpp"

#include <cstdio>
#include <ctime>

#include "util/strings.hpp"
#include "util/time.hpp"

namespace postern::server {
namespace {

// Client text goes into a header: keep it printable and short, no
// parentheses or CRLF that could break the comment or the header.
std::string clean(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= 200) break;
    out += (c > 32 && c < 127 && c != '(' && c != ')' && c != '\\') ? static_cast<char>(c) : '_';
  }
  return out;
}

}  // namespace

std::string with_protocol(bool esmtp, bool tls, bool authenticated) {
  if (!esmtp) return "SMTP";
  std::string p = "ESMTP";
  if (tls) p += 'S';
  if (authenticated) p += 'A';
  return p;
}

std::string received_header(const ReceivedInfo& r) {
  std::string h = "Received: from " + clean(r.helo) + " ([" + r.peer_address + "])\r\n";
  h += "\tby " + r.hostname + " (Postern) with " + with_protocol(r.esmtp, r.tls, r.authenticated);
  h += " id " + r.id + "\r\n";
  if (!r.tls_details.empty()) h += "\t(using " + clean(r.tls_details) + ")\r\n";
  if (!r.for_recipient.empty()) h += "\tfor <" + r.for_recipient + ">;\r\n";
  else h += "\t;\r\n";
  // Put the date on the last line as RFC 5321 §4.4 wants ("; date-time").
  h.resize(h.size() - 2);
  h += " " + util::rfc5322_date(r.when) + "\r\n";
  return h;
}

}  // namespace postern::server
