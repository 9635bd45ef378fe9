// `postern user add|passwd|del|list|lock|unlock|disable|enable|quota`
// (SPEC §2) and `postern user sender ADDR add|del|list OTHER` (SPEC §11:
// the other addresses ADDR may send as): manage mailbox users in the data
// dir's postern.db. Changes reach a running server at once: it reads the
// users table on every lookup. Passwords come from --password-stdin (first line) or a no-echo
// prompt on the terminal, and are never stored: only a yescrypt hash and
// SCRAM keys (plus the CRAM-MD5 secret with --cram-md5).
//
// Exit codes (sysexits): 64 bad usage, 65 bad address, size or password,
// a duplicate user or sender address, or a sender address that is not
// listed, 67 unknown user, 74 database I/O error, 75 database
// busy (try again), 78 configuration error.
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "store/durable_file.hpp"
#include "store/users.hpp"
#include "util/strings.hpp"

namespace postern::cli {
namespace {

constexpr int ex_nouser = 67;
constexpr int ex_ioerr = 74;

struct UserOptions {
  StateOptions state;
  std::string address;
  std::string size;
  std::string reason;
  std::string action;  // user sender: add | del | list
  std::string other;   // user sender: the address to add or delete
  bool password_stdin = false;
  bool cram_md5 = false;
  bool no_cram_md5 = false;
};

struct Failure {
  int code;
  std::string message;
};

// Reads one line from stdin: the password, without its line ending.
std::string password_from_stdin() {
  std::string line;
  if (!std::getline(std::cin, line) && line.empty()) throw Failure{Exit::data_error, "no password on standard input"};
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string prompt_no_echo(const char* prompt) {
  std::cerr << prompt << std::flush;
  termios old{};
  ::tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
  quiet.c_lflag |= ECHONL;
  ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::string line;
  bool ok = static_cast<bool>(std::getline(std::cin, line));
  ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  if (!ok) throw Failure{Exit::data_error, "no password entered"};
  return line;
}

std::string read_password(const UserOptions& o) {
  if (o.password_stdin) return password_from_stdin();
  if (!::isatty(STDIN_FILENO))
    throw Failure{Exit::usage, "standard input is not a terminal: pass the password with --password-stdin"};
  std::string first = prompt_no_echo("Password: ");
  std::string second = prompt_no_echo("Retype password: ");
  if (first != second) throw Failure{Exit::data_error, "passwords do not match"};
  return first;
}

std::string human_size(std::uint64_t n) {
  if (n == 0) return "none";
  for (auto [unit, factor] : {std::pair{'G', 1ull << 30}, std::pair{'M', 1ull << 20}, std::pair{'K', 1ull << 10}})
    if (n % factor == 0) return std::to_string(n / factor) + unit;
  return std::to_string(n);
}

std::uint64_t parse_quota(const std::string& text) {
  if (util::iequals(text, "none")) return 0;
  try {
    return config::parse_size(text);
  } catch (const std::invalid_argument& e) {
    throw Failure{Exit::data_error, "invalid size \"" + util::printable(text) + "\": " + e.what()};
  }
}

// Opens the user database for the configured data dir and runs `body`,
// mapping every failure to its exit code and a one-line message.
template <class F>
int with_users(const UserOptions& o, F&& body, bool read_only = false) {
  config::Config cfg;
  try {
    cfg = o.state.load();
  } catch (const config::Error& e) {
    return report(e);
  }
  if (read_only)
    if (int rc = require_data_dir(cfg)) return rc;
  try {
    try {
      store::create_directories_durably(cfg.data_dir, 0700, 0755);
    } catch (const store::IoError& e) {
      throw Failure{ex_ioerr, "cannot create data dir " + cfg.data_dir.string() + ": " + e.code().message()};
    }
    store::UserDb users(cfg.database_path());
    body(cfg, users);
    return Exit::ok;
  } catch (const Failure& f) {
    std::cerr << "postern: " << f.message << '\n';
    return f.code;
  } catch (const store::UserError& e) {
    std::cerr << "postern: " << e.what() << '\n';
    return e.kind == store::UserError::Kind::unknown_user ? ex_nouser : Exit::data_error;
  } catch (const util::SqliteError& e) {
    std::cerr << "postern: user database " << cfg.database_path().string() << ": " << e.what() << '\n';
    return e.busy() ? Exit::temp_fail : ex_ioerr;
  }
}

// The address argument: validated before anything else happens (no
// password prompt for an address that cannot be right).
std::string checked_address(const std::string& address) {
  auto c = store::canonical_address(address);
  if (!c) throw Failure{Exit::data_error, "not a valid mailbox address: \"" + util::printable(address) + "\""};
  return *c;
}

void warn_if_not_local(const config::Config& cfg, const std::string& address) {
  auto domain = address.substr(address.rfind('@') + 1);
  if (!cfg.is_local_domain(domain))
    std::cerr << "postern: warning: " << domain
              << " is not in local_domains: this user can log in, but mail to it is not delivered here\n";
}

bool cram_md5_enabled(const config::Config& cfg) {
  return std::any_of(cfg.auth.mechanisms.begin(), cfg.auth.mechanisms.end(),
                     [](const std::string& m) { return util::iequals(m, "CRAM-MD5"); });
}

void check_cram_md5(const config::Config& cfg, bool wanted) {
  if (wanted && !cram_md5_enabled(cfg))
    throw Failure{Exit::config_error,
                  "CRAM-MD5 is not enabled: add \"CRAM-MD5\" to [auth] mechanisms before storing its secret"};
}

CLI::App* leaf(CLI::App* parent, const std::string& name, const std::string& help,
               const std::shared_ptr<UserOptions>& o, bool with_address = true) {
  auto* sub = parent->add_subcommand(name, help);
  o->state.add_to(sub);
  if (with_address) sub->add_option("ADDR", o->address, "User address (local@domain)")->required();
  return sub;
}

// With [auth] backend = "dovecot" passwords are Dovecot's: Postern keeps
// only its own mailbox states (lock, disable, quota), keyed by address.
void refuse_if_dovecot(const config::Config& cfg) {
  if (cfg.auth.backend == config::AuthBackend::dovecot)
    throw Failure{Exit::config_error,
                  "users live in Dovecot ([auth] backend = \"dovecot\"): add them and set their passwords in "
                  "Dovecot's passdb; postern user lock/unlock/disable/enable/quota still apply to their addresses"};
}

// The row that holds Postern's states for an address whose password is
// Dovecot's (made on first use, with no secrets: it cannot log in here).
void ensure_state_row(const config::Config& cfg, store::UserDb& users, const std::string& address) {
  if (cfg.auth.backend == config::AuthBackend::dovecot) users.ensure(address);
}

}  // namespace

void add_user(CLI::App& app, int& result) {
  auto o = std::make_shared<UserOptions>();
  auto* user = app.add_subcommand("user", "Manage mailbox users (postern.db in the data dir)");
  user->require_subcommand(1);

  auto* add = leaf(user, "add", "Add a user; the password is read from --password-stdin or prompted", o);
  add->add_flag("--password-stdin", o->password_stdin, "Read the password from the first line of standard input");
  add->add_flag("--cram-md5", o->cram_md5,
                "Also store the plaintext-equivalent secret CRAM-MD5 needs (only when CRAM-MD5 is enabled)");
  add->callback([o, &result] {
    result = with_users(*o, [&](const config::Config& cfg, store::UserDb& users) {
      auto address = checked_address(o->address);
      refuse_if_dovecot(cfg);
      check_cram_md5(cfg, o->cram_md5);
      if (users.get(address)) throw Failure{Exit::data_error, "user already exists: " + address};
      warn_if_not_local(cfg, address);
      users.add(address, read_password(*o), o->cram_md5);
      std::cout << "added " << address << '\n';
    });
  });

  auto* passwd = leaf(user, "passwd", "Change a user's password", o);
  passwd->add_flag("--password-stdin", o->password_stdin, "Read the password from the first line of standard input");
  auto* cram = passwd->add_flag("--cram-md5", o->cram_md5, "Store the CRAM-MD5 secret too");
  passwd->add_flag("--no-cram-md5", o->no_cram_md5, "Drop the CRAM-MD5 secret")->excludes(cram);
  passwd->callback([o, &result] {
    result = with_users(*o, [&](const config::Config& cfg, store::UserDb& users) {
      auto address = checked_address(o->address);
      refuse_if_dovecot(cfg);
      check_cram_md5(cfg, o->cram_md5);
      if (!users.get(address)) throw store::UserError(store::UserError::Kind::unknown_user, "no such user: " + address);
      std::optional<bool> cram;
      if (o->cram_md5) cram = true;
      if (o->no_cram_md5) cram = false;
      users.set_password(address, read_password(*o), cram);
      std::cout << "password changed for " << address << '\n';
    });
  });

  auto* del = leaf(user, "del", "Delete a user (the mailbox on disk is kept)", o);
  del->callback([o, &result] {
    result = with_users(*o, [&](const config::Config& cfg, store::UserDb& users) {
      auto address = checked_address(o->address);
      if (util::iequals(address, cfg.postmaster))
        std::cerr << "postern: warning: " << address << " receives postmaster mail; it is re-created on the next start\n";
      users.remove(address);
      std::cout << "deleted " << address << " (mailbox kept)\n";
    });
  });

  auto* list = leaf(user, "list", "List users with their state and quota", o, false);
  list->callback([o, &result] {
    result = with_users(*o, [&](const config::Config&, store::UserDb& users) {
      std::cout << "ADDRESS\tSTATE\tQUOTA\tLOGIN\tLOCK REASON\n";
      for (const auto& u : users.list()) {
        std::string state = u.disabled ? "disabled" : "active";
        if (u.locked) state += ",locked";
        std::string login = !u.has_password ? "none" : (u.has_cram_md5 ? "password,cram-md5" : "password");
        std::cout << u.address << '\t' << state << '\t' << human_size(u.quota_bytes) << '\t' << login << '\t'
                  << (u.locked ? util::printable(u.lock_reason, 200) : "") << '\n';
      }
    }, true);
  });

  auto* lock = leaf(user, "lock", "Lock a mailbox temporarily: RCPT gets 450 4.2.1", o);
  lock->add_option("--reason", o->reason, "Why (logged, never shown to clients)");
  lock->callback([o, &result] {
    result = with_users(*o, [&](const config::Config& cfg, store::UserDb& users) {
      auto address = checked_address(o->address);
      ensure_state_row(cfg, users, address);
      users.lock(address, o->reason);
      std::cout << "locked " << address << '\n';
    });
  });

  auto* unlock = leaf(user, "unlock", "Remove the lock", o);
  unlock->callback([o, &result] {
    result = with_users(*o, [&](const config::Config& cfg, store::UserDb& users) {
      auto address = checked_address(o->address);
      ensure_state_row(cfg, users, address);
      users.unlock(address);
      std::cout << "unlocked " << address << '\n';
    });
  });

  auto* disable = leaf(user, "disable", "Disable a mailbox: RCPT gets 550 5.2.1, logins fail", o);
  disable->callback([o, &result] {
    result = with_users(*o, [&](const config::Config& cfg, store::UserDb& users) {
      auto address = checked_address(o->address);
      ensure_state_row(cfg, users, address);
      users.set_disabled(address, true);
      std::cout << "disabled " << address << '\n';
    });
  });

  auto* enable = leaf(user, "enable", "Enable a disabled mailbox", o);
  enable->callback([o, &result] {
    result = with_users(*o, [&](const config::Config& cfg, store::UserDb& users) {
      auto address = checked_address(o->address);
      ensure_state_row(cfg, users, address);
      users.set_disabled(address, false);
      std::cout << "enabled " << address << '\n';
    });
  });

  auto* sender = leaf(user, "sender",
                      "The other addresses a user may send as (MAIL FROM, DKIM): sender ADDR add|del|list [OTHER]", o);
  sender->add_option("ACTION", o->action, "add, del or list")->required()->check(CLI::IsMember({"add", "del", "list"}));
  sender->add_option("OTHER", o->other, "The address to add or delete");
  sender->callback([o, &result] {
    if (o->action == "list" ? !o->other.empty() : o->other.empty()) {
      std::cerr << "postern: user sender " << o->action
                << (o->action == "list" ? " takes no address: postern user sender ADDR list\n"
                                        : " needs the address: postern user sender ADDR " + o->action + " OTHER\n");
      result = Exit::usage;
      return;
    }
    result = with_users(*o, [&](const config::Config&, store::UserDb& users) {
      const auto login = checked_address(o->address);
      if (o->action == "list") {
        for (const auto& a : users.senders(login)) std::cout << a << '\n';
        return;
      }
      const auto other = checked_address(o->other);
      if (other == login) throw Failure{Exit::data_error, other + " is the login itself: it needs no listing"};
      if (o->action == "add") {
        users.add_sender(login, other);
        if (users.get(other)) std::cerr << "postern: warning: " << other << " is a user of its own; " << login << " may now send as it\n";
        std::cout << login << " may send as " << other << '\n';
      } else {
        users.remove_sender(login, other);
        std::cout << login << " may no longer send as " << other << '\n';
      }
    });
  });

  auto* quota = leaf(user, "quota", "Set the mailbox quota (\"25M\", \"512K\", \"1G\"; \"none\" or 0: no quota)", o);
  quota->add_option("SIZE", o->size, "Quota size")->required();
  quota->callback([o, &result] {
    result = with_users(*o, [&](const config::Config& cfg, store::UserDb& users) {
      auto address = checked_address(o->address);
      auto bytes = parse_quota(o->size);
      ensure_state_row(cfg, users, address);
      users.set_quota(address, bytes);
      std::cout << "quota of " << address << " set to " << human_size(bytes) << '\n';
    });
  });
}

}  // namespace postern::cli
