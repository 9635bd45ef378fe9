// The alias table (SPEC §11 `aliases_file`): lines `ADDRESS: TARGET[,
// TARGET…]`, `#` comments, a line that starts with white space continuing
// the one before (as aliases(5)). ADDRESS is `local@domain` or `@domain`,
// the catch-all, used when neither a user nor an alias of that address
// exists. A TARGET is an address (a local user, another alias, or a remote
// address, which is forwarded), or a bare local part, meaning that name in
// the alias's own domain. Commands (`|…`), files (`/…`) and `:include:`
// are refused, as chasquid does.
//
// Expansion is recursive and yields final addresses only: local mailboxes
// and remote addresses. A target naming its own alias means the mailbox
// of that name (`alice: alice, alice@elsewhere.example` keeps a copy).
// Any other cycle, more than max_depth levels, or more than max_targets
// addresses is a loop (SPEC: 554 5.4.6).
//
// An SRS0=/SRS1= local part in a local domain (a bounce coming back to a
// forwarded message, store/srs.hpp) expands to the address it stands for,
// unless an alias of that exact address exists. When that address is an
// SRS address of a local domain again (a forwarding chain that passed this
// server twice: SRS1 names our own SRS0), it is reversed again, at most
// max_srs_reversals times in all.
//
// The file is read again when it changes (checked on each lookup: its
// size, mtime and inode) and when the configured path changes (SIGHUP).
// An absent file is an empty table. A malformed line is skipped, logged
// with its line number, and reported by errors() (`postern check-config`
// fails on it); the other lines stay in force.
//
// Threads: every member function is safe from any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::store {

struct AliasTable {
  struct Error {
    std::size_t line = 0;
    std::string message;
  };
  std::map<std::string, std::vector<std::string>> entries;  // canonical address or "@domain" -> targets
  std::vector<Error> errors;
};

// Parses the text of an aliases file. Never throws.
AliasTable parse_aliases(std::string_view text);

struct Expansion {
  enum class Kind {
    none,      // no alias applies: deliver to the address itself
    expanded,  // an alias or the catch-all applied: deliver to `mailboxes` and `forwards`
    loop,      // a cycle, too deep or too many addresses (`detail` says which)
    invalid,   // an SRS address of ours that is forged, damaged or too old
  };
  Kind kind = Kind::none;
  std::vector<std::string> mailboxes;  // local addresses, canonical, in order, no duplicates
  std::vector<std::string> forwards;   // remote addresses, in order, no duplicates
  std::string detail;
  bool srs = false;  // `address` was an SRS address of ours (a bounce must come from <>)
};

class Aliases {
 public:
  static constexpr unsigned max_depth = 20;
  static constexpr std::size_t max_targets = 1000;
  static constexpr unsigned max_srs_reversals = 4;

  struct Lookup {
    std::function<bool(std::string_view domain)> is_local_domain;
    std::function<bool(std::string_view address)> is_user;  // may throw: the caller's trouble
    // Set to take SRS0=/SRS1= local parts in local domains (store/srs.hpp)
    // back to the address they stand for.
    std::function<std::optional<std::string>(std::string_view local_part)> srs_reverse;
  };

  // What `address` (or a catch-all key "@domain") expands to, reading
  // `file` (empty: no aliases).
  Expansion expand(const std::filesystem::path& file, std::string_view address, const Lookup& lookup);
  // The keys of `file` in `domain` (addresses and the catch-all "@domain"), canonical.
  std::vector<std::string> keys_in_domain(const std::filesystem::path& file, std::string_view domain);
  // The malformed lines of `file` as read now.
  std::vector<AliasTable::Error> errors(const std::filesystem::path& file);

 private:
  std::shared_ptr<const AliasTable> table(const std::filesystem::path& file);

  std::mutex mutex_;
  std::filesystem::path path_;
  std::string stamp_;  // size, mtime and inode when read; "" = absent
  std::shared_ptr<const AliasTable> table_ = std::make_shared<AliasTable>();
};

}  // namespace postern::store
