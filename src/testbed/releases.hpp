// Release through the queue (SPEC §10): a kept message handed to Postern's
// own durable queue (queue/scheduler.hpp) for the recipients the developer
// names, to the server they name or as [relay] routes it (routes,
// smarthost, MX). 4xx replies are retried on the [queue] schedule; a
// recipient that fails for good gets its DSN to the message's original
// sender, and since the testbed delivers nothing, that DSN is kept as a
// testbed message (it shows in the list like any other).
//
// The releases have a spool of their own (data_dir/releases/spool/), apart
// from the kept messages, so the scheduler sees only what was released.
// What each release is and how it stands is kept in memory and written
// durably to data_dir/releases/releases.json at every change, so a testbed
// restarted on the same --data-dir goes on with them.
//
// Threads: every member is safe from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "queue/route.hpp"
#include "store/spool.hpp"

namespace postern::queue {
class Scheduler;
}

namespace postern::testbed {

// What to release: at least one recipient, and the next hop ("" = routes, MX).
struct ReleaseRequest {
  std::vector<std::string> to;
  std::string server;
};

// The request checked: every recipient a mailbox (RFC 5321), at most
// max_recipients, server "HOST:PORT" or "HOST" (port 25). Throws
// std::invalid_argument saying what is wrong.
void check_release_request(const ReleaseRequest& request);

enum class ReleaseStatus { queued, deferred, delivered, bounced };
std::string_view to_string(ReleaseStatus status);

struct Release {
  std::string id;          // the queue id in the releases' spool
  std::string message_id;  // the kept message released
  std::string sender;      // the message's envelope sender: the DSN goes there
  std::vector<std::string> to;
  std::string server;      // "" = routes, smarthost, MX
  std::chrono::system_clock::time_point created{};
  std::vector<store::RecipientState> recipients;  // as the queue last recorded them

  // The release as a whole: delivered when every recipient is, bounced
  // when every one is final and one bounced, deferred once an attempt
  // failed for now, else queued.
  ReleaseStatus status() const;
  unsigned attempts() const;        // the most any recipient had
  std::string last_reply() const;   // of the latest attempt, "" before any
  std::optional<std::chrono::system_clock::time_point> next_attempt() const;  // the earliest deferred one
};

class Releases {
 public:
  // Stores a DSN as a kept message (the server's intake); returns its id.
  using KeepDsn = std::function<std::string(const store::Envelope&, std::string_view message)>;

  static constexpr std::size_t max_recipients = 100;
  // Releases remembered at most; past it the oldest finished one is forgotten,
  // and a release is refused while that many are still under way.
  static constexpr std::size_t max_releases = 1000;

  // `testbed` is the testbed's configuration ([queue], [relay], hostname,
  // its listeners with their bound ports so a release never loops back).
  Releases(const config::Config& testbed, KeepDsn keep_dsn);
  ~Releases();
  Releases(const Releases&) = delete;
  Releases& operator=(const Releases&) = delete;

  // Starts the queue (and resumes releases from an earlier run). Throws
  // std::invalid_argument for a bad [relay] dns_servers entry.
  void start();
  void stop();

  // Called after every change of a release's state (the page's live updates).
  void on_change(std::function<void()> listener);

  // Queues `message` (bytes) from `sender` for the request; returns the
  // release. Throws std::invalid_argument (bad request), Busy (too many
  // under way) or store::IoError.
  Release release(const std::string& message_id, const std::string& sender, std::string_view message,
                  const ReleaseRequest& request);
  struct Busy : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  std::vector<Release> of_message(const std::string& message_id) const;  // oldest first
  std::optional<Release> get(const std::string& id) const;

 private:
  void recorded(const std::string& id, const std::vector<store::RecipientState>& states);
  void load_index();
  void save_index();  // under mutex_
  std::optional<queue::Route> route_of(std::string_view id) const;

  std::shared_ptr<config::Config> config_;
  KeepDsn keep_dsn_;
  std::unique_ptr<store::Spool> spool_;
  struct Queue;
  std::unique_ptr<Queue> queue_;
  mutable std::mutex mutex_;
  std::deque<Release> releases_;  // oldest first
  std::function<void()> on_change_;
};

}  // namespace postern::testbed
