#include "admission/auth_lockout.hpp"

namespace postern::admission {

bool AuthLockout::locked(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(address);
  return it != entries_.end() && now < it->second.locked_until;
}

bool AuthLockout::record_failure(const std::string& address, Clock::time_point now, const Limits& limits) {
  if (limits.failures == 0) return false;
  std::lock_guard lock(mutex_);
  if (entries_.size() >= prune_at_) prune(now, limits);
  Entry& e = entries_[address];
  while (!e.failures.empty() && now - e.failures.front() >= limits.window) e.failures.pop_front();
  e.failures.push_back(now);
  while (e.failures.size() > limits.failures) e.failures.pop_front();
  if (e.failures.size() >= limits.failures && now >= e.locked_until) {
    e.locked_until = now + limits.duration;
    e.failures.clear();  // a new lockout needs a new run of failures
    return true;
  }
  return false;
}

std::size_t AuthLockout::size() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void AuthLockout::prune(Clock::time_point now, const Limits& limits) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& e = it->second;
    const bool recent = !e.failures.empty() && now - e.failures.back() < limits.window;
    if (!recent && now >= e.locked_until)
      it = entries_.erase(it);
    else
      ++it;
  }
  // Grow the threshold with what survives, so pruning stays amortised O(1).
  prune_at_ = std::max<std::size_t>(1024, entries_.size() * 2);
}

}  // namespace postern::admission
