#include "store/users.hpp"


#include <cstring>

#include "sasl/secrets.hpp"
#include "util/strings.hpp"

namespace postern::store {
namespace {

using Clock = std::chrono::system_clock;

constexpr std::string_view schema = R"sql(
CREATE TABLE IF NOT EXISTS users (
  address            TEXT PRIMARY KEY,
  password_hash      TEXT NOT NULL DEFAULT '',
  scram_sha1_salt    TEXT NOT NULL DEFAULT '',
  scram_sha1_iter    INTEGER NOT NULL DEFAULT 0,
  scram_sha1_stored  TEXT NOT NULL DEFAULT '',
  scram_sha1_server  TEXT NOT NULL DEFAULT '',
  scram_sha256_salt  TEXT NOT NULL DEFAULT '',
  scram_sha256_iter  INTEGER NOT NULL DEFAULT 0,
  scram_sha256_stored TEXT NOT NULL DEFAULT '',
  scram_sha256_server TEXT NOT NULL DEFAULT '',
  cram_md5_secret    TEXT NOT NULL DEFAULT '',
  locked             INTEGER NOT NULL DEFAULT 0,
  lock_reason        TEXT NOT NULL DEFAULT '',
  disabled           INTEGER NOT NULL DEFAULT 0,
  quota_bytes        INTEGER NOT NULL DEFAULT 0,
  created_at         INTEGER NOT NULL DEFAULT 0
);
-- Added after the users table: IF NOT EXISTS is the migration of a database made before it.
CREATE TABLE IF NOT EXISTS senders (
  login   TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,
  address TEXT NOT NULL,
  PRIMARY KEY (login, address)
))sql";

constexpr std::string_view select_columns =
    "address, password_hash, cram_md5_secret, locked, lock_reason, disabled, quota_bytes, created_at";

bool label_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c >= 0x80;
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 255) return false;
  // An address literal ([192.0.2.1]) is not a mailbox domain for users.
  for (auto& label : util::split(d, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label)
      if (!label_char(c)) return false;
  }
  return true;
}

bool valid_local(std::string_view l) {
  if (l.empty() || l.size() > 64) return false;
  if (l.front() == '.' || l.back() == '.' || l.find("..") != std::string_view::npos) return false;
  for (unsigned char c : l) {
    if (c <= 0x20 || c == 0x7f) return false;
    if (std::strchr("<>,;:\\\"/@()[]", c)) return false;
  }
  return true;
}

User read_user(util::Statement& st) {
  User u;
  u.address = st.column_text(0);
  u.has_password = !st.column_text(1).empty();
  u.has_cram_md5 = !st.column_text(2).empty();
  u.locked = st.column_int(3) != 0;
  u.lock_reason = st.column_text(4);
  u.disabled = st.column_int(5) != 0;
  u.quota_bytes = static_cast<std::uint64_t>(st.column_int(6));
  u.created_at = Clock::time_point(std::chrono::seconds(st.column_int(7)));
  return u;
}

// The secrets for a password: yescrypt hash and both SCRAM key sets.
struct Secrets {
  std::string hash;
  sasl::ScramKeys sha1, sha256;
};

Secrets make_secrets(std::string_view password) {
  if (password.empty()) throw UserError(UserError::Kind::bad_password, "empty password");
  if (password.find('\0') != std::string_view::npos)
    throw UserError(UserError::Kind::bad_password, "password contains a NUL byte");
  try {
    // RFC 5802 §2.2: SCRAM hashes SASLprep(password); a password SASLprep
    // rejects could never log in with SCRAM, so it is refused here.
    return Secrets{sasl::hash_password(password), sasl::make_scram_keys(sasl::ScramHash::sha1, password),
                   sasl::make_scram_keys(sasl::ScramHash::sha256, password)};
  } catch (const std::invalid_argument&) {
    throw UserError(UserError::Kind::bad_password, "password is not valid UTF-8 or has characters SASLprep prohibits");
  }
}

}  // namespace

std::optional<std::string> canonical_address(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  auto local = address.substr(0, at);
  auto domain = address.substr(at + 1);
  if (!valid_local(local) || !valid_domain(domain)) return std::nullopt;
  return util::to_lower(local) + "@" + util::to_lower(domain);
}

UserDb::UserDb(const std::filesystem::path& db_path) : db_(db_path) { db_.exec_setup(schema); }

std::string UserDb::must_canonical(std::string_view address) const {
  auto c = canonical_address(address);
  if (!c) throw UserError(UserError::Kind::bad_address, "not a valid mailbox address: " + util::printable(address));
  return *c;
}

void UserDb::add(std::string_view address, std::string_view password, bool cram_md5) {
  const std::string addr = must_canonical(address);
  const Secrets secrets = make_secrets(password);
  const auto& sha1 = secrets.sha1;
  const auto& sha256 = secrets.sha256;
  const std::string& hash = secrets.hash;
  std::lock_guard lock(mutex_);
  auto st = db_.prepare(
      "INSERT INTO users (address, password_hash, scram_sha1_salt, scram_sha1_iter, scram_sha1_stored, "
      "scram_sha1_server, scram_sha256_salt, scram_sha256_iter, scram_sha256_stored, scram_sha256_server, "
      "cram_md5_secret, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(address) DO NOTHING");
  st.bind(1, addr).bind(2, hash);
  st.bind(3, sha1.salt_b64).bind(4, std::int64_t(sha1.iterations)).bind(5, sha1.stored_key_b64).bind(6, sha1.server_key_b64);
  st.bind(7, sha256.salt_b64).bind(8, std::int64_t(sha256.iterations)).bind(9, sha256.stored_key_b64).bind(10, sha256.server_key_b64);
  // CRAM-MD5 (RFC 2195) needs the password itself on the server side: it is
  // plaintext-equivalent, which is why it is only kept when asked for.
  st.bind(11, cram_md5 ? std::string(password) : std::string());  // never a null pointer: NULL in SQLite
  st.bind(12, std::int64_t(std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count()));
  st.run();
  if (db_.changes() == 0) throw UserError(UserError::Kind::duplicate, "user already exists: " + addr);
}

bool UserDb::ensure(std::string_view address) {
  const std::string addr = must_canonical(address);
  std::lock_guard lock(mutex_);
  auto st = db_.prepare("INSERT INTO users (address, created_at) VALUES (?, ?) ON CONFLICT(address) DO NOTHING");
  st.bind(1, addr).bind(2, std::int64_t(std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count()));
  st.run();
  return db_.changes() > 0;
}

void UserDb::change(std::string_view sql, std::string_view address, const std::function<void(util::Statement&)>& bind) {
  const std::string addr = must_canonical(address);
  std::lock_guard lock(mutex_);
  auto st = db_.prepare(sql);
  bind(st);
  st.bind(1, addr);
  st.run();
  if (db_.changes() == 0) throw UserError(UserError::Kind::unknown_user, "no such user: " + addr);
}

void UserDb::set_password(std::string_view address, std::string_view password, std::optional<bool> cram_md5) {
  const Secrets secrets = make_secrets(password);
  const auto& sha1 = secrets.sha1;
  const auto& sha256 = secrets.sha256;
  const std::string& hash = secrets.hash;
  // ?12: 1 = set the CRAM-MD5 secret, 0 = clear it, 2 = keep it only if there was one.
  const std::int64_t cram_mode = !cram_md5 ? 2 : (*cram_md5 ? 1 : 0);
  change(
      "UPDATE users SET password_hash = ?2, scram_sha1_salt = ?3, scram_sha1_iter = ?4, scram_sha1_stored = ?5, "
      "scram_sha1_server = ?6, scram_sha256_salt = ?7, scram_sha256_iter = ?8, scram_sha256_stored = ?9, "
      "scram_sha256_server = ?10, cram_md5_secret = CASE ?12 WHEN 1 THEN ?11 WHEN 0 THEN '' "
      "ELSE CASE WHEN cram_md5_secret = '' THEN '' ELSE ?11 END END WHERE address = ?1",
      address, [&](util::Statement& st) {
        st.bind(2, hash);
        st.bind(3, sha1.salt_b64).bind(4, std::int64_t(sha1.iterations)).bind(5, sha1.stored_key_b64).bind(6, sha1.server_key_b64);
        st.bind(7, sha256.salt_b64).bind(8, std::int64_t(sha256.iterations)).bind(9, sha256.stored_key_b64).bind(10, sha256.server_key_b64);
        st.bind(11, password).bind(12, cram_mode);
      });
}

void UserDb::remove(std::string_view address) {
  change("DELETE FROM users WHERE address = ?1", address, [](util::Statement&) {});
}

void UserDb::lock(std::string_view address, std::string_view reason) {
  change("UPDATE users SET locked = 1, lock_reason = ?2 WHERE address = ?1", address,
         [&](util::Statement& st) { st.bind(2, std::string(reason)); });
}

void UserDb::unlock(std::string_view address) {
  change("UPDATE users SET locked = 0, lock_reason = '' WHERE address = ?1", address, [](util::Statement&) {});
}

void UserDb::set_disabled(std::string_view address, bool disabled) {
  change("UPDATE users SET disabled = ?2 WHERE address = ?1", address,
         [&](util::Statement& st) { st.bind(2, std::int64_t(disabled ? 1 : 0)); });
}

void UserDb::set_quota(std::string_view address, std::uint64_t bytes) {
  change("UPDATE users SET quota_bytes = ?2 WHERE address = ?1", address,
         [&](util::Statement& st) { st.bind(2, static_cast<std::int64_t>(bytes)); });
}

// A kept statement, reset when this goes: that ends its read transaction,
// so the next use sees every change made since (user disable, passwd).
class UserDb::Kept {
 public:
  explicit Kept(util::Statement& st) : st_(st) {}
  ~Kept() { st_.reset(); }
  Kept(const Kept&) = delete;
  Kept& operator=(const Kept&) = delete;
  util::Statement& operator*() { return st_; }

 private:
  util::Statement& st_;
};

UserDb::Kept UserDb::kept(std::unique_ptr<util::Statement>& slot, std::string_view sql) {
  if (!slot) slot = std::make_unique<util::Statement>(db_.prepare(sql));
  return Kept(*slot);
}

std::optional<User> UserDb::get(std::string_view address) {
  auto addr = canonical_address(address);
  if (!addr) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto held = kept(get_statement_, std::string("SELECT ") + std::string(select_columns) + " FROM users WHERE address = ?");
  auto& st = *held;
  st.bind(1, *addr);
  if (!st.step()) return std::nullopt;
  return read_user(st);
}

std::vector<User> UserDb::list() {
  std::lock_guard lock(mutex_);
  auto st = db_.prepare(std::string("SELECT ") + std::string(select_columns) + " FROM users ORDER BY address");
  std::vector<User> out;
  while (st.step()) out.push_back(read_user(st));
  return out;
}

void UserDb::add_sender(std::string_view login, std::string_view address) {
  const std::string user = must_canonical(login);
  const std::string addr = must_canonical(address);
  std::lock_guard lock(mutex_);
  auto st = db_.prepare(
      "INSERT INTO senders (login, address) SELECT address, ?2 FROM users WHERE address = ?1 "
      "ON CONFLICT(login, address) DO NOTHING");
  st.bind(1, user).bind(2, addr);
  st.run();
  if (db_.changes() > 0) return;
  auto exists = db_.prepare("SELECT 1 FROM users WHERE address = ?");
  exists.bind(1, user);
  if (!exists.step()) throw UserError(UserError::Kind::unknown_user, "no such user: " + user);
  throw UserError(UserError::Kind::duplicate, addr + " is already a sender address of " + user);
}

void UserDb::remove_sender(std::string_view login, std::string_view address) {
  const std::string user = must_canonical(login);
  const std::string addr = must_canonical(address);
  std::lock_guard lock(mutex_);
  auto st = db_.prepare("DELETE FROM senders WHERE login = ? AND address = ?");
  st.bind(1, user).bind(2, addr);
  st.run();
  if (db_.changes() > 0) return;
  auto exists = db_.prepare("SELECT 1 FROM users WHERE address = ?");
  exists.bind(1, user);
  if (!exists.step()) throw UserError(UserError::Kind::unknown_user, "no such user: " + user);
  throw UserError(UserError::Kind::unknown_sender, addr + " is not a sender address of " + user);
}

std::vector<std::string> UserDb::senders(std::string_view login) {
  const std::string user = must_canonical(login);
  std::lock_guard lock(mutex_);
  auto exists = db_.prepare("SELECT 1 FROM users WHERE address = ?");
  exists.bind(1, user);
  if (!exists.step()) throw UserError(UserError::Kind::unknown_user, "no such user: " + user);
  auto st = db_.prepare("SELECT address FROM senders WHERE login = ? ORDER BY address");
  st.bind(1, user);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.column_text(0));
  return out;
}

bool UserDb::has_sender(std::string_view login, std::string_view address) {
  const auto user = canonical_address(login);
  const auto addr = canonical_address(address);
  if (!user || !addr) return false;
  std::lock_guard lock(mutex_);
  auto held = kept(has_sender_statement_, "SELECT 1 FROM senders WHERE login = ? AND address = ?");
  auto& st = *held;
  st.bind(1, *user).bind(2, *addr);
  return st.step();
}

std::optional<sasl::Credentials> UserDb::find(std::string_view authcid) {
  auto addr = canonical_address(authcid);
  if (!addr) return std::nullopt;
  try {
    std::lock_guard lock(mutex_);
    auto held = kept(
        find_statement_,
        "SELECT address, password_hash, scram_sha1_salt, scram_sha1_iter, scram_sha1_stored, scram_sha1_server, "
        "scram_sha256_salt, scram_sha256_iter, scram_sha256_stored, scram_sha256_server, cram_md5_secret, disabled "
        "FROM users WHERE address = ?");
    auto& st = *held;
    st.bind(1, *addr);
    if (!st.step()) return std::nullopt;
    // A user without secrets (the auto-created postmaster) cannot log in.
    if (st.column_text(1).empty()) return std::nullopt;
    // A disabled account is closed for logins too, not only for mail.
    if (st.column_int(11) != 0) return std::nullopt;
    sasl::Credentials c;
    c.identity = st.column_text(0);
    c.password_hash = st.column_text(1);
    c.scram_sha1 = {st.column_text(2), static_cast<unsigned>(st.column_int(3)), st.column_text(4), st.column_text(5)};
    c.scram_sha256 = {st.column_text(6), static_cast<unsigned>(st.column_int(7)), st.column_text(8), st.column_text(9)};
    c.cram_md5_secret = st.column_text(10);
    return c;
  } catch (const util::SqliteError& e) {
    throw sasl::StoreUnavailable(std::string("user database: ") + e.what());
  }
}

}  // namespace postern::store
