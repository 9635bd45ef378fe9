// The delivery engine of `postern serve` (SPEC §2, §4 [queue] [relay]):
// one scheduler owns every spooled message and every recipient's state,
// on a thread of its own.
//
//  * An in-memory index says when each message is due: rebuilt from the
//    spool once at start (mail accepted before a crash or restart), then
//    kept by events: submit() after each spooled message, the outcome of
//    each attempt, `postern queue retry`, SIGHUP, and one timer at the
//    earliest due time. The spool is never rescanned, so an idle queue
//    costs nothing however many messages wait in it.
//  * Transports do the attempts: local mailboxes (delivery::LocalDelivery, on
//    a small pool of threads, since they block on fsync) and SMTP relay
//    (smtp_transport.hpp, coroutines on the scheduler's thread).
//  * Every outcome is recorded the same way (record.hpp): DSN first for a
//    bounce, then the spool state with the next attempt (schedule.hpp).
//
// `postern queue retry [ID]` drops a file into data_dir/queue/retry/
// (control.hpp); the scheduler watches that directory (inotify; without
// it, a look once a second at a directory that is almost always empty),
// makes the named deferred recipients (or all) due now and lifts
// destination backoffs.
//
// Threads: submit(), reload(), stats() and stop() are safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "queue/record.hpp"
#include "queue/smtp_transport.hpp"
#include "delivery/local_delivery.hpp"
#include "store/spool.hpp"

namespace postern::queue {

struct SchedulerOptions {
  SmtpOptions smtp;
  unsigned local_threads = 8;       // threads for mailbox writes, spool states and DSNs
  unsigned local_in_flight = 16;    // local attempts queued to those threads at once
  std::chrono::milliseconds control_interval{1000};  // how often queue/retry/ is looked at without inotify
  util::Metrics* metrics = nullptr;  // delivery attempts and times (GET /metrics); null: none
  Recorder::Observer on_recorded;    // each recipient's state after each attempt (on the blocking pool); unset: none
};

struct QueueStats {
  std::uint64_t delivered = 0;  // recipients
  std::uint64_t deferred = 0;
  std::uint64_t bounced = 0;
  std::uint64_t dsns = 0;
  std::uint64_t connections = 0;          // outbound SMTP connections opened
  std::uint64_t possible_duplicates = 0;  // in-flight markers found at start
  std::uint64_t indexed = 0;              // messages in the index now
};

class Scheduler {
 public:
  using Inject = Recorder::Inject;

  // `spool` and `local` must outlive the scheduler.
  Scheduler(std::shared_ptr<const config::Config> config, store::Spool& spool, delivery::LocalDelivery& local,
            Inject inject, SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Counts leftover in-flight markers, starts the thread and indexes the
  // spool. Throws std::invalid_argument for a bad dns_servers entry.
  void start();
  // A new message is in the spool.
  void submit(const std::string& id);
  // SIGHUP: routes, smarthost, schedule and local domains from `config`;
  // every message is looked at again.
  void reload(std::shared_ptr<const config::Config> config);
  // Stops: connections in progress get up to 2 s, then are dropped (their
  // recipients stay as they were). Idempotent.
  void stop();

  QueueStats stats() const;

  // The index by state, counted on the scheduler's thread: due now,
  // deferred (due later), attempts in progress. Zeros if it does not
  // answer within a second (stopped, or very busy).
  struct Counts {
    std::size_t due = 0, deferred = 0, active = 0;
  };
  Counts counts() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace postern::queue
