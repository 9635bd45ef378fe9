// The Received: trace header the server prepends to every accepted
// message (RFC 5321 §4.4, with-protocols of RFC 3848: SMTP, ESMTP,
// ESMTPS, ESMTPA, ESMTPSA).
#pragma once

#include <chrono>
#include <string>

namespace postern::server {

struct ReceivedInfo {
  std::string helo;            // the client's EHLO/HELO argument
  std::string peer_address;    // "127.0.0.1" or "::1"
  std::string hostname;        // ours
  bool esmtp = true;
  bool tls = false;
  bool authenticated = false;
  std::string id;              // transaction id
  std::string tls_details;     // "TLSv1.3 TLS_AES_256_GCM_SHA384", "" without TLS
  std::string for_recipient;   // set when there is exactly one recipient
  std::chrono::system_clock::time_point when;
};

// "SMTP", "ESMTP", "ESMTPS", "ESMTPA" or "ESMTPSA".
std::string with_protocol(bool esmtp, bool tls, bool authenticated);
// The complete header, folded, ending with CRLF.
std::string received_header(const ReceivedInfo& info);

}  // namespace postern::server
