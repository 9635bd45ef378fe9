#include "policy/sqlite_store.hpp"

#include <array>
#include <mutex>
#include <optional>

#include "policy/pool.hpp"
#include "util/sqlite.hpp"

namespace postern::policy {
namespace {

constexpr std::string_view schema = R"sql(
CREATE TABLE IF NOT EXISTS greylist_triplets(
  triplet TEXT PRIMARY KEY,
  network TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  passes INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS greylist_triplets_expires ON greylist_triplets(expires);
CREATE TABLE IF NOT EXISTS greylist_networks(
  network TEXT PRIMARY KEY,
  passes INTEGER NOT NULL,
  expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS greylist_allow(
  entry TEXT PRIMARY KEY,
  added INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_meta(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rate_events(
  client TEXT NOT NULL,
  at INTEGER NOT NULL,
  expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_events_client ON rate_events(client, at);
CREATE INDEX IF NOT EXISTS rate_events_expires ON rate_events(expires);
)sql";

}  // namespace

struct SqliteStore::Connection {
  util::Database db;
  int pragmas;
  util::Statement version;
  util::Statement network;
  util::Statement triplet;
  util::Statement insert_triplet;
  util::Statement retry;
  util::Statement pass;
  util::Statement pass_network;
  util::Statement rate_trim;
  util::Statement rate_count;
  util::Statement rate_insert;

  explicit Connection(const std::filesystem::path& path)
      : db(path, std::chrono::milliseconds(2000)),
        pragmas((db.exec("PRAGMA synchronous = NORMAL"), 0)),
        version(db.prepare("SELECT value FROM policy_meta WHERE name = 'allow_version'")),
        network(db.prepare("SELECT passes, expires FROM greylist_networks WHERE network = ?1")),
        triplet(db.prepare("SELECT first_seen, passes, passed, expires FROM greylist_triplets WHERE triplet = ?1")),
        insert_triplet(db.prepare(
            "INSERT OR REPLACE INTO greylist_triplets"
            "(triplet, network, sender, recipient, first_seen, last_seen, passes, passed, expires)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0, 0, ?6)")),
        retry(db.prepare("UPDATE greylist_triplets SET last_seen = ?2 WHERE triplet = ?1")),
        pass(db.prepare(
            "UPDATE greylist_triplets SET last_seen = ?2, passes = passes + 1, passed = 1, expires = ?3"
            " WHERE triplet = ?1 RETURNING passes")),
        pass_network(db.prepare(
            "INSERT INTO greylist_networks(network, passes, expires) VALUES (?1, 1, ?3)"
            " ON CONFLICT(network) DO UPDATE SET"
            " passes = CASE WHEN expires > ?2 THEN passes + 1 ELSE 1 END, expires = ?3")),
        rate_trim(db.prepare("DELETE FROM rate_events WHERE client = ?1 AND at <= ?2")),
        rate_count(db.prepare("SELECT count(*) FROM rate_events WHERE client = ?1")),
        rate_insert(db.prepare("INSERT INTO rate_events(client, at, expires) VALUES (?1, ?2, ?3)")) {}
};

struct SqliteStore::Impl {
  std::filesystem::path path;
  // One connection per process, taken in turns. Decisions write, so they
  // serialise on the database anyway; with one connection its page cache
  // stays warm (a second connection would reread every page another
  // connection changed) and no thread sleeps in SQLite's busy handler.
  // Other processes on the same database still meet the busy timeout.
  std::mutex writer;
  Pool<Connection> pool;
  explicit Impl(std::filesystem::path p)
      : path(std::move(p)), pool([this] { return std::make_unique<Connection>(path); }) {}
};

namespace {

template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const util::SqliteError& e) {
    throw StoreError(std::string(e.busy() ? "database busy: " : "database error: ") + e.what());
  }
}

std::int64_t read_version(util::Statement& s) {
  s.reset();
  std::int64_t v = s.step() ? s.column_int(0) : 0;
  s.reset();
  return v;
}

}  // namespace

SqliteStore::SqliteStore(std::filesystem::path path) {
  guarded([&] {
    {
      util::Database db(path, std::chrono::milliseconds(5000));
      util::Transaction tx(db);
      db.exec_setup(schema);
      tx.commit();
    }
    impl_ = std::make_unique<Impl>(std::move(path));
    auto c = impl_->pool.lease();  // fail now, not at the first RCPT
    return 0;
  });
}

SqliteStore::~SqliteStore() = default;

std::string SqliteStore::describe() const { return "sqlite:" + impl_->path.string(); }

Decision SqliteStore::decide(const Triplet& t, const Timing& timing, Millis now, std::int64_t allow_version) {
  return guarded([&] {
    std::lock_guard turn(impl_->writer);
    auto c = impl_->pool.lease();
    util::Transaction tx(c->db);
    Decision d;
    std::int64_t version = read_version(c->version);
    if (version != allow_version) {
      d.verdict = Verdict::stale_allow;
      d.allow_version = version;
      return d;
    }
    if (timing.auto_allow_after > 0) {
      auto& n = c->network;
      n.reset();
      n.bind(1, t.network);
      if (n.step() && n.column_int(1) > now && n.column_int(0) >= timing.auto_allow_after) {
        d.verdict = Verdict::network_allowed;
        d.passes = n.column_int(0);
        n.reset();
        return d;
      }
      n.reset();
    }
    const std::string key = t.key();
    auto& s = c->triplet;
    s.reset();
    s.bind(1, key);
    std::optional<std::array<std::int64_t, 4>> row;
    if (s.step()) row = std::array<std::int64_t, 4>{s.column_int(0), s.column_int(1), s.column_int(2), s.column_int(3)};
    s.reset();

    if (!row || (*row)[3] <= now) {
      // RFC 6647 §2.1: first sight (or forgotten): remember it and refuse.
      auto& ins = c->insert_triplet;
      ins.reset();
      ins.bind(1, key).bind(2, t.network).bind(3, t.sender).bind(4, t.recipient);
      ins.bind(5, now).bind(6, now + timing.retry_window);
      ins.run();
      ins.reset();
      tx.commit();
      d.verdict = Verdict::greylisted;
      d.wait = timing.delay;
      return d;
    }
    auto [first_seen, passes, passed, expires] = *row;
    if (!passed && now - first_seen < timing.delay) {
      auto& r = c->retry;
      r.reset();
      r.bind(1, key).bind(2, now);
      r.run();
      r.reset();
      tx.commit();
      d.verdict = Verdict::greylisted;
      d.wait = first_seen + timing.delay - now;
      return d;
    }
    auto& p = c->pass;
    p.reset();
    p.bind(1, key).bind(2, now).bind(3, now + timing.max_age);
    d.passes = p.step() ? p.column_int(0) : passes + 1;
    p.reset();
    if (!passed) {
      auto& pn = c->pass_network;
      pn.reset();
      pn.bind(1, t.network).bind(2, now).bind(3, now + timing.max_age);
      pn.run();
      pn.reset();
    }
    tx.commit();
    d.verdict = Verdict::passed;
    return d;
  });
}

bool SqliteStore::rate_hit(std::string_view client, unsigned max, Millis window, Millis now) {
  return guarded([&] {
    std::lock_guard turn(impl_->writer);
    auto c = impl_->pool.lease();
    util::Transaction tx(c->db);
    c->rate_trim.reset();
    c->rate_trim.bind(1, client).bind(2, now - window);
    c->rate_trim.run();
    c->rate_trim.reset();
    c->rate_count.reset();
    c->rate_count.bind(1, client);
    std::int64_t n = c->rate_count.step() ? c->rate_count.column_int(0) : 0;
    c->rate_count.reset();
    bool allowed = n < static_cast<std::int64_t>(max);
    if (allowed) {
      c->rate_insert.reset();
      c->rate_insert.bind(1, client).bind(2, now).bind(3, now + window);
      c->rate_insert.run();
      c->rate_insert.reset();
    }
    tx.commit();
    return allowed;
  });
}

void SqliteStore::add_allow(std::string_view entry, Millis now) {
  guarded([&] {
    std::lock_guard turn(impl_->writer);
    auto c = impl_->pool.lease();
    util::Transaction tx(c->db);
    auto ins = c->db.prepare("INSERT OR IGNORE INTO greylist_allow(entry, added) VALUES (?1, ?2)");
    ins.bind(1, entry).bind(2, now);
    ins.run();
    if (c->db.changes() > 0) {
      c->db.exec(
          "INSERT INTO policy_meta(name, value) VALUES ('allow_version', 1)"
          " ON CONFLICT(name) DO UPDATE SET value = value + 1");
    }
    tx.commit();
    return 0;
  });
}

std::vector<std::string> SqliteStore::allow_entries() {
  return guarded([&] {
    std::lock_guard turn(impl_->writer);
    auto c = impl_->pool.lease();
    auto s = c->db.prepare("SELECT entry FROM greylist_allow ORDER BY added, entry");
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.column_text(0));
    return out;
  });
}

std::int64_t SqliteStore::allow_version() {
  return guarded([&] {
    std::lock_guard turn(impl_->writer);
    auto c = impl_->pool.lease();
    return read_version(c->version);
  });
}

std::vector<Entry> SqliteStore::list(Millis now) {
  return guarded([&] {
    std::lock_guard turn(impl_->writer);
    auto c = impl_->pool.lease();
    auto s = c->db.prepare(
        "SELECT network, sender, recipient, first_seen, last_seen, passes, passed, expires"
        " FROM greylist_triplets WHERE expires > ?1 ORDER BY first_seen, triplet");
    s.bind(1, now);
    std::vector<Entry> out;
    while (s.step()) {
      Entry e;
      e.triplet = {s.column_text(0), s.column_text(1), s.column_text(2)};
      e.first_seen = s.column_int(3);
      e.last_seen = s.column_int(4);
      e.passes = s.column_int(5);
      e.passed = s.column_int(6) != 0;
      e.expires = s.column_int(7);
      out.push_back(std::move(e));
    }
    return out;
  });
}

std::vector<NetworkEntry> SqliteStore::networks(Millis now) {
  return guarded([&] {
    std::lock_guard turn(impl_->writer);
    auto c = impl_->pool.lease();
    auto s = c->db.prepare(
        "SELECT network, passes, expires FROM greylist_networks WHERE expires > ?1 ORDER BY network");
    s.bind(1, now);
    std::vector<NetworkEntry> out;
    while (s.step()) out.push_back({s.column_text(0), s.column_int(1), s.column_int(2)});
    return out;
  });
}

std::int64_t SqliteStore::purge(Millis now, bool all) {
  return guarded([&] {
    std::lock_guard turn(impl_->writer);
    auto c = impl_->pool.lease();
    util::Transaction tx(c->db);
    std::int64_t removed = 0;
    for (std::string_view table : {"greylist_triplets", "greylist_networks", "rate_events"}) {
      auto s = c->db.prepare(std::string("DELETE FROM ") + std::string(table) + (all ? "" : " WHERE expires <= ?1"));
      if (!all) s.bind(1, now);
      s.run();
      removed += c->db.changes();
    }
    tx.commit();
    return removed;
  });
}

}  // namespace postern::policy
