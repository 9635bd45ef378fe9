// Where a local address really goes: the alias table (store/aliases.hpp)
// over the users of the database, and SRS (store/srs.hpp) both ways: a
// bounce to an SRS address of ours goes back to the original sender, and
// mail an alias forwards to another domain leaves with an SRS sender.
// One per consumer (the RCPT checks, local delivery); each reads the same
// files, so they always agree.
//
// Threads: safe from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "store/aliases.hpp"
#include "store/srs.hpp"

namespace postern::store {

class UserDb;

class Forwarding {
 public:
  // `users` may be null (every local address is then a mailbox); it must outlive this.
  explicit Forwarding(UserDb* users) : users_(users) {}

  // The expansion of `address` under `config` (its aliases_file and local
  // domains). Database or SRS-secret trouble throws (the caller defers).
  Expansion expand(const config::Config& config, std::string_view address);
  // The envelope sender for mail that `alias` (an address in a local
  // domain) forwards elsewhere: `sender` unchanged when it is empty (a
  // bounce) or in a local domain, its SRS form in alias's domain otherwise.
  std::string forward_sender(const config::Config& config, std::string_view sender, std::string_view alias);
  // The alias keys in `domain` (addresses and "@domain").
  std::vector<std::string> alias_keys(const config::Config& config, std::string_view domain) {
    return aliases_.keys_in_domain(config.aliases_file, domain);
  }
  // Malformed lines of the aliases file (`postern check-config`).
  std::vector<AliasTable::Error> alias_errors(const config::Config& config) { return aliases_.errors(config.aliases_file); }

 private:
  const Srs& srs(const config::Config& config);

  UserDb* users_;
  Aliases aliases_;
  std::mutex mutex_;
  std::filesystem::path srs_file_;
  std::optional<Srs> srs_;
};

}  // namespace postern::store
