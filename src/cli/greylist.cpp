// `postern greylist list | allow ENTRY | purge [--all]` (SPEC §2): inspect
// and manage greylist state in the configured store (SQLite in the data
// dir, or Redis). Changes reach a running server at its next RCPT: allow
// entries carry a version the server checks on every decision.
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/chrono.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "policy/allow.hpp"
#include "policy/clock.hpp"
#include "policy/store.hpp"
#include "store/durable_file.hpp"

namespace postern::cli {
namespace {

std::string utc(policy::Millis t) { return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(static_cast<std::time_t>(t / 1000))); }

struct GreylistOptions {
  StateOptions state;
  std::string entry;
  bool all = false;
};

// Runs `body(store, now)` with the store the config names; maps failures to sysexits.
template <class F>
int with_store(const StateOptions& state, F&& body, bool read_only = false) {
  config::Config cfg;
  try {
    cfg = state.load();
  } catch (const config::Error& e) {
    return report(e);
  }
  if (read_only && cfg.greylist.store == "sqlite")
    if (int rc = require_data_dir(cfg)) return rc;
  try {
    if (cfg.greylist.store == "sqlite") store::create_directories_durably(cfg.data_dir, 0700, 0755);
    auto store = policy::open_store(cfg.greylist.store, cfg.database_path().string());
    return body(*store, policy::SystemClock().now());
  } catch (const policy::StoreError& e) {
    std::cerr << "postern: greylist store: " << e.what() << '\n';
    return Exit::temp_fail;
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << "postern: " << e.what() << '\n';
    return Exit::temp_fail;
  } catch (const store::IoError& e) {
    std::cerr << "postern: " << e.what() << ": " << e.code().message() << '\n';
    return Exit::temp_fail;
  }
}

int list(policy::Store& store, policy::Millis now) {
  auto entries = store.list(now);
  std::cout << "TRIPLET\tFIRST SEEN\tLAST SEEN\tPASSES\tSTATE\n";
  for (auto& e : entries) {
    std::cout << e.triplet.str() << '\t' << utc(e.first_seen) << '\t' << utc(e.last_seen) << '\t' << e.passes << '\t'
              << (e.passed ? "passed" : "greylisted") << '\n';
  }
  auto networks = store.networks(now);
  if (!networks.empty()) {
    std::cout << "\nNETWORK\tPASSED TRIPLETS\tUNTIL\n";
    for (auto& n : networks) std::cout << n.network << '\t' << n.passes << '\t' << utc(n.expires) << '\n';
  }
  auto allow = store.allow_entries();
  if (!allow.empty()) {
    std::cout << "\nALLOW (added with `postern greylist allow`)\n";
    for (auto& a : allow) std::cout << a << '\n';
  }
  return Exit::ok;
}

}  // namespace

void add_greylist(CLI::App& app, int& result) {
  auto opts = std::make_shared<GreylistOptions>();
  auto* sub = app.add_subcommand("greylist", "Inspect and manage greylisting state (RFC 6647)");
  sub->require_subcommand(1);

  auto* ls = sub->add_subcommand("list", "Show remembered triplets (first seen, passes, state), auto-allowed networks and allow entries");
  opts->state.add_to(ls);
  ls->callback([opts, &result] { result = with_store(opts->state, list, true); });

  auto* allow = sub->add_subcommand("allow", "Never greylist ENTRY: a CIDR (client address), a domain (client's "
                                             "forward-confirmed reverse DNS name), or rcpt:ADDRESS-or-DOMAIN");
  allow->add_option("ENTRY", opts->entry, "CIDR, domain, or rcpt:ADDRESS-or-DOMAIN")->required();
  opts->state.add_to(allow);
  allow->callback([opts, &result] {
    std::string normalised;
    try {
      normalised = policy::AllowEntry::parse(opts->entry).text;
    } catch (const std::invalid_argument& e) {
      std::cerr << "postern: greylist allow: " << e.what() << '\n';
      result = Exit::data_error;
      return;
    }
    result = with_store(opts->state, [&](policy::Store& store, policy::Millis now) {
      store.add_allow(normalised, now);
      std::cout << "allowed " << normalised << '\n';
      return Exit::ok;
    });
  });

  auto* purge = sub->add_subcommand("purge", "Remove expired greylist state (--all: every triplet, network and rate counter)");
  purge->add_flag("--all", opts->all, "Remove everything except allow entries");
  opts->state.add_to(purge);
  purge->callback([opts, &result] {
    result = with_store(opts->state, [&](policy::Store& store, policy::Millis now) {
      auto removed = store.purge(now, opts->all);
      std::cout << "removed " << removed << (removed == 1 ? " entry\n" : " entries\n");
      return Exit::ok;
    });
  });
}

}  // namespace postern::cli
