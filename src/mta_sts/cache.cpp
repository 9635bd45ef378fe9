#include "mta_sts/cache.hpp"

namespace postern::mta_sts {

namespace {

std::int64_t seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

Cache::Cache(const std::filesystem::path& database) : db_(database) {
  db_.exec_setup(
      "CREATE TABLE IF NOT EXISTS mta_sts_policy ("
      " domain TEXT PRIMARY KEY, id TEXT NOT NULL, mode TEXT NOT NULL, mx TEXT NOT NULL,"
      " max_age INTEGER NOT NULL, fetched_at INTEGER NOT NULL)");
}

std::optional<CachedPolicy> Cache::get(const std::string& domain) {
  auto st = db_.prepare("SELECT id, mode, mx, max_age, fetched_at FROM mta_sts_policy WHERE domain = ?");
  st.bind(1, domain);
  if (!st.step()) return std::nullopt;
  CachedPolicy c;
  c.policy.id = st.column_text(0);
  const std::string mode = st.column_text(1);
  c.policy.mode = mode == "enforce" ? Mode::enforce : mode == "testing" ? Mode::testing : Mode::none;
  const std::string mx = st.column_text(2);
  for (std::size_t pos = 0; pos < mx.size();) {
    const auto nl = std::min(mx.find('\n', pos), mx.size());
    if (nl > pos) c.policy.mx.push_back(mx.substr(pos, nl - pos));
    pos = nl + 1;
  }
  c.policy.max_age = std::chrono::seconds(st.column_int(3));
  c.fetched_at = std::chrono::system_clock::time_point(std::chrono::seconds(st.column_int(4)));
  return c;
}

void Cache::put(const std::string& domain, const CachedPolicy& entry) {
  std::string mx;
  for (const auto& m : entry.policy.mx) mx += m + "\n";
  auto st = db_.prepare(
      "INSERT INTO mta_sts_policy (domain, id, mode, mx, max_age, fetched_at) VALUES (?, ?, ?, ?, ?, ?)"
      " ON CONFLICT(domain) DO UPDATE SET id = excluded.id, mode = excluded.mode, mx = excluded.mx,"
      " max_age = excluded.max_age, fetched_at = excluded.fetched_at");
  st.bind(1, domain)
      .bind(2, entry.policy.id)
      .bind(3, mode_name(entry.policy.mode))
      .bind(4, mx)
      .bind(5, static_cast<std::int64_t>(entry.policy.max_age.count()))
      .bind(6, seconds(entry.fetched_at));
  st.run();
}

}  // namespace postern::mta_sts
