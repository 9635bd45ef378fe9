// The outbound queue runner (SPEC §2, §4 [queue] [relay]; issue "the 450
// corner on the sending side"). It runs inside `postern serve` on a thread
// of its own and delivers the spooled messages' non-local recipients:
//
//  * finds work: new queue ids (submit() after each accepted message, and a
//    scan of the spool every second, so a restart picks up everything),
//    recipients that are pending, or deferred and due;
//  * routes each recipient's domain (route.hpp): static route, smarthost
//    (AUTH through the SASL client), else MX via dns::Resolver;
//  * delivers with client::Session: opportunistic STARTTLS, PIPELINING
//    when offered, several messages per connection to one destination, at
//    most `per_destination` connections to one destination at a time;
//  * records each recipient's outcome in the spool: delivered; deferred
//    with the last reply and the next attempt (schedule.hpp); bounced on a
//    5xx or after [queue] lifetime, with an RFC 3464 DSN (dsn.hpp) handed
//    back to the intake like any message (local senders get it in their
//    Maildir; never a DSN for a null reverse-path);
//  * a destination that cannot be reached is left alone until its backoff
//    step has passed: at most one attempt per destination per step.
//
// Crash safety: the spool state is only changed after the remote server's
// reply, and a DSN is stored before its recipient is marked bounced. A
// kill -9 between the remote 250 and the state update re-sends that message
// after restart: the unavoidable window. An "in flight" marker
// (data_dir/queue/inflight/) spans it, and start() counts the markers it
// finds as possible duplicates (log event queue_recover, stats()).
//
// `postern queue retry [ID]` drops a file into data_dir/queue/retry/; the
// runner sees it on its next scan (within a second), makes the named
// deferred recipients (or all) due now and lifts destination backoffs.
//
// Threads: submit(), wake(), stats() and stop() are safe from any thread;
// everything else happens on the runner's own thread. Spool writes block
// that thread briefly (fsync), never a session's.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "queue/control.hpp"
#include "store/envelope.hpp"
#include "store/spool.hpp"

namespace postern::queue {

struct RunnerOptions {
  std::chrono::milliseconds scan_interval{1000};
  unsigned per_destination = 4;   // connections at once to one destination
  unsigned max_connections = 64;  // outbound connections at once, in all
  unsigned max_messages_per_connection = 100;
  std::uint16_t mx_port = 25;     // see mx_port_from_environment()
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds data_timeout{600};
  std::chrono::milliseconds dns_timeout{3000};
};

struct RunnerStats {
  std::uint64_t delivered = 0;
  std::uint64_t deferred = 0;
  std::uint64_t bounced = 0;
  std::uint64_t dsns = 0;
  std::uint64_t connections = 0;
  std::uint64_t possible_duplicates = 0;  // in-flight markers found at start
};

class Runner {
 public:
  // Stores a DSN as a new message and returns its queue id; the server
  // passes its intake, so the DSN is delivered locally or queued like
  // any accepted message. Throws on failure.
  using Inject = std::function<std::string(const store::Envelope&, std::string_view message)>;
  // `is_local`: whether an address belongs to local delivery (others are ours).
  using IsLocal = std::function<bool(std::string_view address)>;

  Runner(const config::Config& config, store::Spool& spool, Inject inject, IsLocal is_local = {},
         RunnerOptions options = {});
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Starts the runner's thread: counts leftover in-flight markers, then scans.
  // Throws std::invalid_argument for a bad dns_servers entry.
  void start();
  // A new message is in the spool (called after each accepted message).
  void submit(const std::string& id);
  // Scan now.
  void wake();
  // SIGHUP: routes, smarthost, schedule and local domains from `config`
  // (dns_servers only on restart). Safe from any thread.
  void reload(const config::Config& config);
  // Stops: connections in progress are dropped (their recipients stay as
  // they were and are tried again after restart). Idempotent.
  void stop();

  RunnerStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};


}  // namespace postern::queue
