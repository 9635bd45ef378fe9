// The outbound retry schedule (SPEC §4 [queue]): when a deferred recipient
// is tried again and when it has waited long enough to bounce. The backoff
// step and the "try again in N seconds" hint come from client/retry.hpp,
// which `postern send --retry-for` uses too, so both retry the same way.
// Local mailboxes retry on a short schedule of their own (next_local_attempt).
// Pure computation with an explicit clock and random source (tests).
#pragma once

#include <chrono>
#include <string_view>

#include "client/retry.hpp"
#include "config/config.hpp"

namespace postern::queue {

using Clock = std::chrono::system_clock;

struct Schedule {
  client::RetryPolicy retry;    // initial, max, jitter
  Clock::duration lifetime{};   // then bounce
  Clock::duration delay_warning{};  // 0: none

  static Schedule from(const config::Queue& q);

  // When to try again after temporary failure number `failures` (1-based)
  // at `now` with reply text `reply` (its hint honoured within
  // [1 s, retry_max]). Never later than the message's expiry, so the last
  // attempt happens at the end of its lifetime. `uniform` is in [0, 1).
  Clock::time_point next_attempt(unsigned failures, std::string_view reply, Clock::time_point arrival,
                                 Clock::time_point now, double uniform) const;

  // The same for a local mailbox (a locked mbox, a full disk): our own
  // trouble, so 1 s doubling to 60 s rather than the outbound backoff;
  // never later than the message's expiry.
  Clock::time_point next_local_attempt(unsigned failures, Clock::time_point arrival, Clock::time_point now) const;

  // True when a message that arrived at `arrival` must not be retried
  // after a temporary failure at `now`: it bounces (RFC 5321 §4.5.4.1).
  bool expired(Clock::time_point arrival, Clock::time_point now) const { return now >= arrival + lifetime; }
};

}  // namespace postern::queue
