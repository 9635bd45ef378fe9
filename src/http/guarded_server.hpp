// cpp-httplib's Server with what a loopback HTTP side needs against hostile
// pages and clients:
// * the Host check (DNS rebinding) and the cross-site check (CSRF,
//   request_guard.hpp) before any route runs;
// * a thread per connection (at most max_connections) instead of a fixed
//   pool of eight, so open pages and pending waits starve nobody;
// * one deadline per request for reading its headers and body and writing
//   its answer, so a client that trickles a byte at a time is cut off;
// * handlers that wait (long polls, event streams) take one of a few slots,
//   notice a closed client, and end at once on shut_down().
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http/request_guard.hpp"

namespace postern::http {

struct ServerLimits {
  std::chrono::milliseconds request_deadline{10'000};  // headers and body in, answer out
  std::chrono::milliseconds io_timeout{5'000};         // silence within that
  std::size_t max_connections = 256;                   // more are closed at once
  std::size_t max_waiting = 32;                        // long polls and event streams together
};

class GuardedServer : public httplib::Server {
 public:
  // How a refusal is written (JSON for the testbed, text for /metrics).
  using Refuse = std::function<void(const httplib::Request&, httplib::Response&, int status, const std::string& reason)>;

  // `allow_hint` ends the Host refusal: how to allow another name.
  GuardedServer(HostAllowlist hosts, std::string allow_hint, Refuse refuse, ServerLimits limits = {});
  ~GuardedServer() override;

  // Before the server starts: one more name (the listener's own, --allowed-hosts).
  void allow_host(std::string_view name) { hosts_.add(name); }

  // For a handler that waits: a slot while it waits (nullptr when
  // max_waiting already wait); with it, the request's deadline no longer
  // applies (the handler bounds itself).
  std::shared_ptr<void> wait_slot();
  // On a handler's thread: the client has closed its side.
  static bool client_gone();
  bool stopping() const { return stopping_; }
  // Waits and event streams holding a slot now.
  std::size_t waiting() const { return waiting_; }
  // Called by shut_down(), before the connections are shut, to wake waiting handlers.
  void on_shut_down(std::function<void()> wake);
  // Ends now: waiting handlers are woken, every connection is shut, the
  // listener is closed, so listen_after_bind() returns promptly.
  void shut_down();

 private:
  bool process_and_close_socket(socket_t sock) override;
  bool admit(socket_t sock);
  void forget(socket_t sock);

  HostAllowlist hosts_;
  ServerLimits limits_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> waiting_{0};
  std::mutex mutex_;
  std::set<socket_t> connections_;
  std::vector<std::function<void()>> wakers_;
};

}  // namespace postern::http
