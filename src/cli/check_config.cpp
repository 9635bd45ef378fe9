// `postern check-config` (SPEC §2): loads the configuration the other
// subcommands would load (--config, ./postern.toml or the embedded
// defaults; --data-dir), prints the effective configuration as TOML on
// stdout and exits 0; a bad configuration is reported on stderr as
// "postern: FILE:LINE: KEY: MESSAGE" with exit 78, as is every malformed
// line of the aliases file ("postern: FILE:LINE: MESSAGE") and every DKIM
// key file that is not a usable key ("postern: FILE: MESSAGE"). A
// postmaster address that cannot receive mail is a warning on stderr.
#include <pwd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "admission/user_checks.hpp"
#include "dkim/key.hpp"
#include "store/aliases.hpp"

namespace postern::cli {
namespace {

struct CheckConfig {
  StateOptions state;
  bool quiet = false;
};

// The line of a top-level `key = ...` in a TOML file (before its first
// table), 0 when it is not found: for errors found after loading.
std::size_t top_level_key_line(const std::string& file, std::string_view key) {
  std::ifstream in(file);
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    if (line[start] == '[') return 0;
    if (line.compare(start, key.size(), key) != 0) continue;
    const auto eq = line.find_first_not_of(" \t", start + key.size());
    if (eq != std::string::npos && line[eq] == '=') return n;
  }
  return 0;
}

}  // namespace

void add_check_config(CLI::App& app, int& result) {
  auto opts = std::make_shared<CheckConfig>();
  auto* sub = app.add_subcommand("check-config", "Validate the configuration and print the effective configuration");
  opts->state.add_to(sub);
  sub->add_flag("-q,--quiet", opts->quiet, "Only validate; print nothing when the configuration is good");
  sub->callback([opts, &result] {
    config::Config c;
    try {
      c = opts->state.load();
      // The loader checks syntax; only here, where the operator asks, does
      // the environment count too: a user that does not exist would stop
      // `serve` when it drops privileges.
      if (!c.user.empty() && ::getpwnam(c.user.c_str()) == nullptr)
        throw config::Error(c.source, top_level_key_line(c.source, "user"), "user",
                            "no such user \"" + c.user + "\" on this system");
      // The aliases file: every malformed line, as FILE:LINE: MESSAGE.
      if (!c.aliases_file.empty()) {
        std::ifstream in(c.aliases_file, std::ios::binary);
        std::ostringstream text;
        if (in) text << in.rdbuf();
        const auto errors = store::parse_aliases(text.str()).errors;
        for (const auto& e : errors) std::cerr << "postern: " << c.aliases_file.string() << ":" << e.line << ": " << e.message << "\n";
        if (!errors.empty()) {
          result = Exit::config_error;
          return;
        }
      }
      // Files the configuration names: one that cannot be read fails later,
      // at start (TLS) or at the first login or relay that needs it.
      const std::pair<const char*, const std::filesystem::path*> named[] = {
          {"[tls] cert", c.tls.named ? &c.tls.cert : nullptr},
          {"[tls] key", c.tls.named ? &c.tls.key : nullptr},
          {"[auth] oauth_client_secret_file", &c.auth.oauth_client_secret_file},
          {"[auth] oauth_introspection_ca", &c.auth.oauth_introspection_ca},
          {"[relay] smarthost_password_file", &c.relay.smarthost_password_file},
          {"[relay] smarthost_ca", &c.relay.smarthost_ca}};
      bool unreadable = false;
      for (const auto& [key, path] : named) {
        if (!path || path->empty()) continue;
        std::ifstream in(*path, std::ios::binary);
        if (in && !std::filesystem::is_directory(*path)) continue;
        std::cerr << "postern: " << path->string() << ": " << key << ": cannot read it ("
                  << (std::filesystem::exists(*path) ? "not a readable file" : "no such file") << ")\n";
        unreadable = true;
      }
      if (unreadable) {
        result = Exit::config_error;
        return;
      }
      // DKIM keys: a key that cannot sign leaves its domain's mail unsigned.
      bool bad_key = false;
      std::error_code ec;
      for (std::filesystem::directory_iterator it(c.dkim_dir(), ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() != ".key") continue;
        std::ifstream in(it->path(), std::ios::binary);
        std::ostringstream pem;
        pem << in.rdbuf();
        try {
          if (!in) throw dkim::KeyError("cannot read it");
          (void)dkim::algorithm_of(pem.str());
        } catch (const dkim::KeyError& e) {
          std::cerr << "postern: " << it->path().string() << ": " << e.what() << " (mail is not signed with it)\n";
          bad_key = true;
        }
      }
      if (bad_key) {
        result = Exit::config_error;
        return;
      }
      // Valid, but refused at RCPT: worth saying where the operator looks.
      if (auto why = admission::postmaster_undeliverable(c)) std::cerr << "postern: warning: " << *why << "\n";
    } catch (const config::Error& e) {
      result = report(e);
      return;
    }
    if (!opts->quiet) std::cout << config::to_toml(c);
    result = Exit::ok;
  });
}

}  // namespace postern::cli
