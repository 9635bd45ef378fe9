// Greylist and rate-limit state in SQLite (postern.db, WAL). Each decision
// is one BEGIN IMMEDIATE transaction, so concurrent sessions and several
// processes on one data dir serialise on the database's write lock. The
// connections use synchronous=NORMAL: in WAL mode that survives a crash of
// the process and loses at most the last decisions on a power failure,
// which for greylist state only means a sender is greylisted once more.
#pragma once

#include <filesystem>
#include <memory>

#include "policy/store.hpp"

namespace postern::policy {

class SqliteStore final : public Store {
 public:
  // Opens (creating tables in) `path`; throws StoreError.
  explicit SqliteStore(std::filesystem::path path);
  ~SqliteStore() override;

  Decision decide(const Triplet& t, const Timing& timing, Millis now, std::int64_t allow_version) override;
  bool rate_hit(std::string_view client, unsigned max, Millis window, Millis now) override;
  void add_allow(std::string_view entry, Millis now) override;
  std::vector<std::string> allow_entries() override;
  std::int64_t allow_version() override;
  std::vector<Entry> list(Millis now) override;
  std::vector<NetworkEntry> networks(Millis now) override;
  std::int64_t purge(Millis now, bool all) override;
  std::string describe() const override;

  struct Connection;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::policy
