// Runs the command that prints an OAuth 2.0 access token (`postern send
// --token-command`, [relay] smarthost_oauth_token_command): under
// `/bin/sh -c`, its standard output read through a pipe so the token is on
// no command line, its standard error passed through. The token is the
// first line of its output.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace postern::client {

struct TokenResult {
  std::optional<std::string> token;  // set on success
  std::string error;                 // why not, for people (never holds output)
};

// Blocks until the command ends or `timeout` passes (then it is killed).
TokenResult run_token_command(const std::string& command, std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace postern::client
