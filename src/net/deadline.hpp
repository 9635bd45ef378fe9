// The deadline of a connection's current wait, for both sides: arm() sets
// it from now, disarm() lifts it, and when it passes the owner's expiry
// action runs once (a session cancels or closes its stream, so the pending
// read or write completes with an error). Re-arming to a later time does
// not touch the timer (a busy server re-arms on every read); the timer
// wakes at the old time, sees the new one and sleeps again. The action
// never runs after the Deadline is gone. One executor, not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

namespace postern::net {

class Deadline {
 public:
  using clock = std::chrono::steady_clock;

  Deadline(asio::any_io_executor executor, std::function<void()> on_expiry);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void arm(clock::duration timeout);
  // Lifts the deadline and stops the timer (an idle client's I/O context
  // then has nothing left to wait for).
  void disarm();
  // Whether it passed since the last arm().
  bool expired() const;

 private:
  struct State;
  static void wait(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

}  // namespace postern::net
