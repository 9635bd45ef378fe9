// When to try again after a temporary failure (RFC 5321 §4.5.4.1): an
// exponential backoff with jitter between `initial` and `max`, and the
// server's own "try again in N seconds" hint (greylisting, RFC 6647 §2.1)
// honoured within bounds. Pure computation; the caller sleeps. Shared by
// `postern send --retry-for` and the outbound queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace postern::client {

using Seconds = std::chrono::seconds;

// The delay a reply text asks for: "try again in 300 seconds", "retry in 5
// minutes", "try again later (in 2 min)". nullopt when it names none.
std::optional<Seconds> retry_hint(std::string_view text);

struct RetryPolicy {
  Seconds initial{std::chrono::minutes(5)};  // first retry after this
  Seconds max{std::chrono::hours(1)};        // backoff cap
  double jitter = 0.2;                        // +-20 % around the backoff step
  Seconds hint_min{1};                        // a hint shorter than this is raised to it
  Seconds hint_margin{1};                     // added to a hint so we arrive just after the server's deadline
};

// The retry schedule of one message (or one recipient). attempt() counts the
// failures seen so far; next() gives the delay before the next try.
class RetrySchedule {
 public:
  // `uniform` returns a number in [0, 1); defaults to a random generator.
  explicit RetrySchedule(RetryPolicy policy, std::function<double()> uniform = {});

  // Records one more temporary failure and returns how long to wait before
  // the next attempt. A hint wins over the backoff step, clamped to
  // [hint_min, max]; without one the step is initial * 2^(failures-1),
  // capped at max, with jitter, never below 1 s.
  Seconds next(std::optional<Seconds> hint = std::nullopt);
  // Same, reading the hint from a reply's text.
  Seconds next_after(std::string_view reply_text) { return next(retry_hint(reply_text)); }

  unsigned failures() const { return failures_; }
  const RetryPolicy& policy() const { return policy_; }

  // The backoff step alone, without jitter: initial * 2^(failures-1) capped at max.
  static Seconds backoff(const RetryPolicy& policy, unsigned failures);

 private:
  RetryPolicy policy_;
  std::function<double()> uniform_;
  unsigned failures_ = 0;
};

// "5 s", "2 min 30 s", "1 h 5 min": a delay as a person reads it.
std::string describe(Seconds delay);

}  // namespace postern::client
