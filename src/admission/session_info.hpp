// What a session knows about its client, as policy checks and AUTH see it.
// Owned by the Session. The part the dialogue establishes (TLS, EHLO name,
// AUTH identity: smtp::SessionState) is written by the dialogue alone
// (smtp/dialogue.hpp); the session fills in the connection's facts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "smtp/address.hpp"
#include "smtp/command.hpp"
#include "smtp/dialogue.hpp"

namespace postern::admission {

struct SessionInfo : smtp::SessionState {
  std::string id;                    // log session=
  std::string peer_address;          // "127.0.0.1", "::1" (IPv4-mapped addresses unmapped)
  std::uint16_t peer_port = 0;
  std::string local_address;         // the listener's address as configured
  std::string local_ip;              // the address the client connected to ("" if unknown)
  std::uint16_t local_port = 0;
  config::Role role = config::Role::mx;
  // Forward-confirmed reverse DNS name, looked up (asynchronously, with a
  // timeout) before the greeting only when a check needs it.
  std::optional<std::string> client_name;
  bool client_name_checked = false;
  const config::Config* config = nullptr;  // the snapshot this session runs with
};

// The open transaction, as RCPT checks see it.
using TransactionInfo = smtp::Transaction;

}  // namespace postern::admission
