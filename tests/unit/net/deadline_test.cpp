// net::Deadline on a real io_context: it fires once when the time passes,
// moves when re-armed, stays quiet when lifted or destroyed, and leaves
// nothing behind for the context to wait on.
#include "net/deadline.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <optional>

using namespace std::chrono_literals;
using postern::net::Deadline;

TEST(Deadline, FiresOnceWhenTheTimePasses) {
  asio::io_context io;
  int fired = 0;
  Deadline d(io.get_executor(), [&] { ++fired; });
  d.arm(10ms);
  io.run();
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(d.expired());
  d.arm(1h);
  EXPECT_FALSE(d.expired());  // a new wait
  d.disarm();
  io.restart();
  io.run();  // returns: nothing is left waiting
  EXPECT_EQ(fired, 1);
}

TEST(Deadline, ReArmingLaterMovesIt) {
  asio::io_context io;
  auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration at{};
  Deadline d(io.get_executor(), [&] { at = std::chrono::steady_clock::now() - start; });
  d.arm(20ms);
  asio::steady_timer later(io, 10ms);
  later.async_wait([&](auto) { d.arm(80ms); });  // a read came in: renewed
  io.run();
  EXPECT_GE(at, 90ms);
}

TEST(Deadline, ReArmingSoonerMovesItForward) {
  asio::io_context io;
  auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration at{};
  Deadline d(io.get_executor(), [&] { at = std::chrono::steady_clock::now() - start; });
  d.arm(1h);
  d.arm(10ms);
  io.run();  // would not return for an hour if the first arm still held
  EXPECT_GE(at, 10ms);
  EXPECT_LT(at, 10min);
}

TEST(Deadline, TheActionMayArmAgain) {
  asio::io_context io;
  int fired = 0;
  std::optional<Deadline> d;
  d.emplace(io.get_executor(), [&] {
    if (++fired == 1) d->arm(5ms);  // the server's grace period after a timeout
  });
  d->arm(5ms);
  io.run();
  EXPECT_EQ(fired, 2);
}

TEST(Deadline, LiftedOrDestroyedItNeverFires) {
  asio::io_context io;
  int fired = 0;
  Deadline lifted(io.get_executor(), [&] { ++fired; });
  lifted.arm(5ms);
  lifted.disarm();
  {
    Deadline gone(io.get_executor(), [&] { ++fired; });
    gone.arm(5ms);
  }
  io.run();
  EXPECT_EQ(fired, 0);
  EXPECT_FALSE(lifted.expired());
}
