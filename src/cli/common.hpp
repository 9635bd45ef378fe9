// Pieces every subcommand shares: sysexits codes (SPEC §2) and the options
// that locate the server's state (--config, --data-dir).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "config/config.hpp"

namespace postern::cli {

// sysexits.h values, named for what they mean to a Postern user.
enum Exit : int {
  ok = 0,
  usage = 64,
  data_error = 65,
  unavailable = 69,  // permanent failure (5xx)
  software = 70,
  cant_create = 73,
  temp_fail = 75,    // temporary failure (4xx), refused or dropped connection
  protocol = 76,
  no_perm = 77,      // authentication failure
  config_error = 78,
};

struct StateOptions {
  std::string config_file;
  std::string data_dir;

  void add_to(CLI::App* sub);
  // Loads the config these options name; throws config::Error.
  config::Config load() const;
};

// Prints "postern: FILE:LINE: KEY: MESSAGE" on stderr and returns 78.
int report(const config::Error& e);

// For commands that only read the server's state: its data dir must exist
// already (a mistyped --data-dir is an error, not an empty list). Prints
// why and returns Exit::config_error when it does not, else Exit::ok.
int require_data_dir(const config::Config& cfg);

}  // namespace postern::cli
