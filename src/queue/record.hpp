// Records what an attempt came to, the same way for every transport: for
// bounces the DSN first (so a crash cannot lose the report), then each
// recipient's state in the spool (delivered, bounced, or deferred with its
// reply and next attempt from schedule.hpp; a deferral past [queue]
// lifetime bounces with 4.4.7), and the entry is removed once every
// recipient is final. One `delivery` log line per recipient.
//
// Blocks on disk I/O (fsync): call it from a thread that may block.
// Thread-safe: the spool serialises changes to one entry.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "queue/dsn.hpp"
#include "queue/outcome.hpp"
#include "queue/schedule.hpp"
#include "store/spool.hpp"
#include "util/metrics.hpp"

namespace postern::queue {

enum class Transport { local, smtp };

class Recorder {
 public:
  // Stores a DSN as a new message and returns its queue id (the server
  // passes its intake, so the DSN is delivered like any accepted message).
  // Throws on failure.
  using Inject = std::function<std::string(const store::Envelope&, std::string_view message)>;

  // `metrics` (may be null) counts attempts by transport and status, and
  // the time from arrival to delivery.
  Recorder(store::Spool& spool, Inject inject, util::Metrics* metrics = nullptr)
      : spool_(spool), inject_(std::move(inject)), metrics_(metrics) {}

  // Records `outcomes[k]` for recipient `rcpts[k]` of `entry` (as loaded
  // before the attempt: its envelope, and its recipients' delay_warned
  // when a delay warning may be due; the current states are read again). Returns
  // every recipient's state afterwards, or nullopt when the entry is gone
  // (finished now, or deleted meanwhile). Never throws: spool trouble is
  // logged (queue_error) and leaves the state as it was.
  std::optional<std::vector<store::RecipientState>> record(const config::Config& config, const Schedule& schedule,
                                                           const store::SpoolEntry& entry,
                                                           const std::vector<std::size_t>& rcpts,
                                                           std::vector<Outcome> outcomes, Transport transport,
                                                           double uniform);

  // One attempt for record_many(): record()'s arguments, and its result.
  struct Attempt {
    const store::SpoolEntry* entry = nullptr;
    const std::vector<std::size_t>* rcpts = nullptr;
    std::vector<Outcome> outcomes;
    Transport transport = Transport::smtp;
    double uniform = 0;
    std::optional<std::vector<store::RecipientState>> states;  // set by record_many, as record() returns
  };
  // record() for many attempts at once: the entries they finish are
  // removed with one directory fsync for all of them, before any result
  // is returned.
  void record_many(const config::Config& config, const Schedule& schedule, std::vector<Attempt>& attempts);

  // Called after each recorded attempt with the message's id and every
  // recipient's state (also when that state finished and removed the entry).
  using Observer = std::function<void(const std::string& id, const std::vector<store::RecipientState>& states)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // An entry whose every recipient is final (a crash came between its last
  // state and its removal): removes it.
  void finish(const std::string& id);

  // Counts so far: recipients delivered, deferred, bounced; DSNs stored.
  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t deferred() const { return deferred_; }
  std::uint64_t bounced() const { return bounced_; }
  std::uint64_t dsns() const { return dsns_; }

 private:
  bool send_dsn(const config::Config& config, const store::SpoolEntry& entry,
                const std::vector<DsnRecipient>& recipients);

  // record_many()'s steps for one attempt: DSNs and the new states
  // (removal unsynced), then the log lines and counts.
  bool apply(const config::Config& config, const Schedule& schedule, Attempt& a, Clock::time_point now);
  void report(Attempt& a, Clock::time_point now);

  store::Spool& spool_;
  Inject inject_;
  util::Metrics* metrics_;
  Observer observer_;
  std::atomic<std::uint64_t> delivered_{0}, deferred_{0}, bounced_{0}, dsns_{0};
};

}  // namespace postern::queue
