// The SMTP envelope of one accepted message, as the session hands it to the
// spool (RFC 5321 §2.3.1). Addresses are stored without angle brackets; the
// null reverse-path is the empty string.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace postern::store {

struct Envelope {
  std::string reverse_path;             // "" for <>
  std::vector<std::string> recipients;  // forward-paths, in RCPT order
  std::string client_address;           // "127.0.0.1", "::1"
  std::string client_helo;              // the EHLO/HELO argument
  std::string auth_identity;            // authenticated user, "" if none
  // `sendmail` run by root (SPEC §11): any sender, any From: domain signed.
  // Others are held to what auth_identity owns (store/sender_ownership.hpp).
  bool any_sender = false;
  std::string auth_param;               // MAIL FROM AUTH= value (RFC 4954 §5), "" if absent
  std::string body_type;                // "7BIT" | "8BITMIME" | "BINARYMIME" | ""
  bool smtputf8 = false;                // RFC 6531
  // Set on the copies local delivery makes when it expands aliases: every
  // local recipient is a mailbox, never looked up as an alias again (this
  // is what ends "alice: alice, bob@elsewhere").
  bool aliases_expanded = false;
  std::chrono::system_clock::time_point received_at{};
};

}  // namespace postern::store
