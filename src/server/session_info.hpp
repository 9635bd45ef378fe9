// What a session knows about its client, as policy checks and AUTH see it.
// Owned by the Session; read-only for everyone else except through the
// Session's own setters (AUTH sets the identity).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "smtp/address.hpp"
#include "smtp/command.hpp"

namespace postern::server {

struct SessionInfo {
  std::string id;                    // log session=
  std::string peer_address;          // "127.0.0.1", "::1" (IPv4-mapped addresses unmapped)
  std::uint16_t peer_port = 0;
  std::string local_address;         // the listener's address as configured
  config::Role role = config::Role::mx;
  bool tls = false;                  // TLS active (implicit, or after STARTTLS)
  bool esmtp = false;                // EHLO (not HELO) was used
  std::string helo;                  // the EHLO/HELO argument; "" before it
  std::string auth_identity;         // "" when not authenticated
  // Forward-confirmed reverse DNS name, looked up (asynchronously, with a
  // timeout) before the greeting only when a check needs it.
  std::optional<std::string> client_name;
  bool client_name_checked = false;
  const config::Config* config = nullptr;  // the snapshot this session runs with

  bool authenticated() const { return !auth_identity.empty(); }
};

// The open transaction, as RCPT checks see it.
struct TransactionInfo {
  smtp::Path reverse_path;
  smtp::MailParameters parameters;
  std::vector<std::string> recipients;  // accepted so far, as Path::str()
};

}  // namespace postern::server
