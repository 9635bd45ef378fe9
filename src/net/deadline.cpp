#include "net/deadline.hpp"

namespace postern::net {

// The timer's handler may run after the Deadline is gone; it reaches the
// owner only through this block, whose action is cleared first.
struct Deadline::State {
  explicit State(asio::any_io_executor executor) : timer(executor) {}
  asio::steady_timer timer;
  clock::time_point due = clock::time_point::max();
  bool waiting = false;
  bool expired = false;
  std::function<void()> on_expiry;
};

Deadline::Deadline(asio::any_io_executor executor, std::function<void()> on_expiry)
    : state_(std::make_shared<State>(executor)) {
  state_->on_expiry = std::move(on_expiry);
}

Deadline::~Deadline() {
  state_->on_expiry = nullptr;
  state_->timer.cancel();
}

void Deadline::wait(const std::shared_ptr<State>& state) {
  state->waiting = true;
  state->timer.expires_at(state->due);
  state->timer.async_wait([state](const asio::error_code&) {
    state->waiting = false;
    if (!state->on_expiry || state->due == clock::time_point::max()) return;
    if (clock::now() < state->due) {
      wait(state);  // re-armed since, or woken early to move closer
      return;
    }
    state->due = clock::time_point::max();
    state->expired = true;
    state->on_expiry();
  });
}

void Deadline::arm(clock::duration timeout) {
  auto& s = *state_;
  s.expired = false;
  s.due = clock::now() + timeout;
  if (!s.waiting)
    wait(state_);
  else if (s.due < s.timer.expiry())
    s.timer.cancel();  // the handler waits again, for the nearer time
}

bool Deadline::expired() const { return state_->expired; }

void Deadline::disarm() {
  state_->due = clock::time_point::max();
  if (state_->waiting) state_->timer.cancel();
}

}  // namespace postern::net
