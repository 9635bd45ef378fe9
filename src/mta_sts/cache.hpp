// The policy cache (RFC 8461 §5.1) in postern.db: one row per domain with
// the policy, its id and when it was fetched. A policy is used until
// fetched_at + max_age even when its record disappears; a new id in the
// record makes it fetched again. One thread at a time (util::Database).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "mta_sts/policy.hpp"
#include "util/sqlite.hpp"

namespace postern::mta_sts {

struct CachedPolicy {
  Policy policy;
  std::chrono::system_clock::time_point fetched_at;
  bool fresh(std::chrono::system_clock::time_point now) const { return now < fetched_at + policy.max_age; }
};

class Cache {
 public:
  explicit Cache(const std::filesystem::path& database);  // throws util::SqliteError
  std::optional<CachedPolicy> get(const std::string& domain);
  void put(const std::string& domain, const CachedPolicy& entry);

 private:
  util::Database db_;
};

}  // namespace postern::mta_sts
