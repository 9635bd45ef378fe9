// The user database (SPEC §2 `postern user`, §8 postern.db): one row per
// mailbox user in the `users` table of the SQLite database (WAL). It keeps
// the secrets SASL needs (RFC 5803 style, never the password itself):
//   * a yescrypt crypt(3) hash ("$y$...") for PLAIN and LOGIN;
//   * SCRAM-SHA-1 and SCRAM-SHA-256 salt, iteration count (>= 4096),
//     StoredKey and ServerKey (RFC 5802 §3), from sasl/secrets.hpp so the
//     SASL server derives the same keys;
//   * the CRAM-MD5 plaintext-equivalent secret, only when asked for.
// and the mailbox state the server checks at RCPT: locked (+ reason, 450
// 4.2.1), disabled (550 5.2.1), quota in octets (452 4.2.2; 0 = none).
//
// The `senders` table lists, per user, the other addresses that user may
// send as (SPEC §11 `postern user sender`); its rows go with the user.
//
// Every lookup reads the database, so `postern user ...` run against the
// data dir takes effect on a running server at once. Addresses are stored
// canonical: ASCII letters lower-cased (local part and domain), so
// Alice@Example.ORG and alice@example.org are one user and one mailbox.
//
// Threads: safe from any thread (one connection, serialised by a mutex).
// Errors: UserError for the caller's mistakes (bad address, unknown user,
// duplicate); util::SqliteError for the database (busy() => try later).
// find() turns database trouble into sasl::StoreUnavailable.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sasl/credentials.hpp"
#include "util/sqlite.hpp"

namespace postern::store {

struct UserError : std::runtime_error {
  enum class Kind { bad_address, unknown_user, duplicate, bad_password, unknown_sender };
  Kind kind;
  UserError(Kind k, const std::string& message) : std::runtime_error(message), kind(k) {}
};

struct User {
  std::string address;  // canonical
  bool has_password = false;
  bool has_cram_md5 = false;
  bool locked = false;
  std::string lock_reason;
  bool disabled = false;
  std::uint64_t quota_bytes = 0;  // 0 = no quota
  std::chrono::system_clock::time_point created_at{};
};

// The canonical form of a user address ("local@domain", ASCII lower-cased),
// or nullopt when it is not a plausible mailbox address: one '@', a
// non-empty local part of at most 64 octets with no spaces, controls,
// '<', '>', ',', ';', ':', '\\', '"' or '/', and a domain of dot-separated
// labels (letters, digits, '-', or UTF-8), at most 255 octets.
std::optional<std::string> canonical_address(std::string_view address);

class UserDb : public sasl::CredentialStore {
 public:
  // Opens (creating) the database file and the users table.
  explicit UserDb(const std::filesystem::path& db_path);

  // Adds a user. Throws UserError(bad_address | duplicate | bad_password).
  void add(std::string_view address, std::string_view password, bool cram_md5 = false);
  // Adds a user who cannot log in (no secrets) if absent; true if created.
  bool ensure(std::string_view address);
  // Replaces every secret. `cram_md5`: keep a CRAM-MD5 secret (nullopt: as before).
  void set_password(std::string_view address, std::string_view password, std::optional<bool> cram_md5 = std::nullopt);
  void remove(std::string_view address);
  void lock(std::string_view address, std::string_view reason);
  void unlock(std::string_view address);
  void set_disabled(std::string_view address, bool disabled);
  void set_quota(std::string_view address, std::uint64_t bytes);
  // The above throw UserError(unknown_user) when the user does not exist.

  std::optional<User> get(std::string_view address);
  std::vector<User> list();

  // The addresses `login` may send as besides its own (SPEC §11). add and
  // remove throw UserError(bad_address | unknown_user | duplicate |
  // unknown_sender); senders() throws unknown_user.
  void add_sender(std::string_view login, std::string_view address);
  void remove_sender(std::string_view login, std::string_view address);
  std::vector<std::string> senders(std::string_view login);
  // True when `address` is listed for `login` (both made canonical; false when either cannot be).
  bool has_sender(std::string_view login, std::string_view address);

  // sasl::CredentialStore. Users without secrets and disabled users are
  // not found (they cannot log in); database trouble throws
  // sasl::StoreUnavailable.
  std::optional<sasl::Credentials> find(std::string_view authcid) override;

 private:
  std::string must_canonical(std::string_view address) const;
  void change(std::string_view sql, std::string_view address, const std::function<void(util::Statement&)>& bind);

  std::mutex mutex_;
  util::Database db_;
  // The lookups of every RCPT, delivery, AUTH and MAIL FROM: prepared
  // once, reset after each use (kept()).
  class Kept;
  Kept kept(std::unique_ptr<util::Statement>& slot, std::string_view sql);
  std::unique_ptr<util::Statement> get_statement_, find_statement_, has_sender_statement_;
};

}  // namespace postern::store
