#include "queue/schedule.hpp"

#include <algorithm>
#include <cmath>

namespace postern::queue {

Schedule Schedule::from(const config::Queue& q) {
  Schedule s;
  s.retry.initial = std::max(q.retry_initial, client::Seconds(1));
  s.retry.max = std::max(q.retry_max, s.retry.initial);
  s.lifetime = q.lifetime;
  s.delay_warning = q.delay_warning;
  return s;
}

Clock::time_point Schedule::next_attempt(unsigned failures, std::string_view reply, Clock::time_point arrival,
                                         Clock::time_point now, double uniform) const {
  std::optional<client::Seconds> hint = client::retry_hint(reply);
  long long delay;
  if (hint) {
    // The server knows when it will accept (greylisting, RFC 6647 §2.1).
    delay = std::clamp<long long>(hint->count() + retry.hint_margin.count(), retry.hint_min.count(),
                                  retry.max.count());
  } else {
    double step = static_cast<double>(client::RetrySchedule::backoff(retry, std::max(failures, 1u)).count());
    double factor = 1.0 + retry.jitter * (2.0 * uniform - 1.0);
    delay = std::clamp<long long>(std::llround(step * factor), 1, retry.max.count());
  }
  auto next = now + std::chrono::seconds(delay);
  return std::min(next, std::max(arrival + lifetime, now + std::chrono::seconds(1)));
}

Clock::time_point Schedule::next_local_attempt(unsigned failures, Clock::time_point arrival,
                                               Clock::time_point now) const {
  const auto step = std::chrono::seconds(1LL << std::min(std::max(failures, 1u) - 1, 6u));
  const auto next = now + std::min(step, std::chrono::seconds(60));
  return std::min(next, std::max(arrival + lifetime, now + std::chrono::seconds(1)));
}

}  // namespace postern::queue
