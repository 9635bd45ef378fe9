// Time as policy decisions see it: milliseconds since the Unix epoch, from
// an injectable clock so unit tests can walk a greylist life cycle without
// sleeping. The system clock is the default everywhere else.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace postern::policy {

using Millis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Millis now() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to (tests, benchmarks). Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Millis start = 1'700'000'000'000) : now_(start) {}
  Millis now() const override { return now_.load(); }
  void advance(std::chrono::milliseconds d) { now_ += d.count(); }
  void set(Millis t) { now_ = t; }

 private:
  std::atomic<Millis> now_;
};

inline Millis to_millis(std::chrono::milliseconds d) { return d.count(); }

}  // namespace postern::policy
