#include "mta_sts/negative_cache.hpp"

#include <algorithm>

namespace postern::mta_sts {

namespace {

const NegativeCache::Failure& failure_of(const NegativeCache::Failure& f) { return f; }
template <class T>
const NegativeCache::Failure& failure_of(const T& f) {
  return f.failure;
}

}  // namespace

NegativeCache::NegativeCache(Clock::duration hold, std::size_t capacity)
    : hold_(hold), capacity_(std::max<std::size_t>(capacity, 1)) {}

template <class Map>
void NegativeCache::make_room(Map& map, Clock::time_point now) {
  if (map.size() < capacity_) return;
  std::erase_if(map, [&](const auto& kv) { return failure_of(kv.second).until <= now; });
  if (map.size() < capacity_) return;
  map.erase(std::min_element(map.begin(), map.end(), [](const auto& a, const auto& b) {
    return failure_of(a.second).until < failure_of(b.second).until;
  }));
}

void NegativeCache::fetch_failed(const std::string& domain, const std::string& id, std::string error,
                                 Clock::time_point now) {
  if (!fetches_.contains(domain)) make_room(fetches_, now);
  fetches_[domain] = FetchFailure{id, Failure{std::move(error), now + hold_}};
}

std::optional<NegativeCache::Failure> NegativeCache::fetch_failure(const std::string& domain, const std::string& id,
                                                                   Clock::time_point now) const {
  const auto it = fetches_.find(domain);
  if (it == fetches_.end() || it->second.id != id || now >= it->second.failure.until) return std::nullopt;
  return it->second.failure;
}

void NegativeCache::record_failed(const std::string& domain, std::string error, Clock::time_point now) {
  if (!records_.contains(domain)) make_room(records_, now);
  records_[domain] = Failure{std::move(error), now + hold_};
}

std::optional<NegativeCache::Failure> NegativeCache::record_failure(const std::string& domain,
                                                                    Clock::time_point now) const {
  const auto it = records_.find(domain);
  if (it == records_.end() || now >= it->second.until) return std::nullopt;
  return it->second;
}

}  // namespace postern::mta_sts
