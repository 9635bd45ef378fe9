// Failures remembered for a while, per domain, so that a policy host that
// never answers (or a `_mta-sts` TXT lookup that times out) costs its
// timeout once, not at every delivery. RFC 8461 §3.3: "In the case that
// the HTTPS GET fails, we suggest implementations limit further attempts
// to a period of five minutes or longer per version ID". A failed fetch
// is remembered with the record id it was for, so a new id is fetched at
// once. In memory only: a restart tries again. Pure, with the time given
// by the caller (tests); one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace postern::mta_sts {

class NegativeCache {
 public:
  using Clock = std::chrono::steady_clock;
  struct Failure {
    std::string error;  // what went wrong, as logged then
    Clock::time_point until;
  };

  // `hold`: how long a failure is remembered; `capacity`: domains at most
  // per kind (the expired go first, then the one that ends soonest).
  explicit NegativeCache(Clock::duration hold, std::size_t capacity = 10000);

  // The fetch of the policy with record id `id` failed.
  void fetch_failed(const std::string& domain, const std::string& id, std::string error, Clock::time_point now);
  // The failure that still holds for fetching `id` of `domain`, if any.
  std::optional<Failure> fetch_failure(const std::string& domain, const std::string& id, Clock::time_point now) const;
  // A policy was fetched: the domain's failed fetch is forgotten.
  void fetched(const std::string& domain) { fetches_.erase(domain); }

  // The `_mta-sts` TXT lookup failed (not "no record": a timeout or
  // server failure).
  void record_failed(const std::string& domain, std::string error, Clock::time_point now);
  std::optional<Failure> record_failure(const std::string& domain, Clock::time_point now) const;

  std::size_t size() const { return fetches_.size() + records_.size(); }

 private:
  struct FetchFailure {
    std::string id;
    Failure failure;
  };
  template <class Map>
  void make_room(Map& map, Clock::time_point now);

  Clock::duration hold_;
  std::size_t capacity_;
  std::map<std::string, FetchFailure> fetches_;
  std::map<std::string, Failure> records_;
};

}  // namespace postern::mta_sts
