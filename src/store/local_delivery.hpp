// Local delivery: takes a spooled message and delivers each recipient in
// local_domains to its mailbox (Maildir, or mbox when mailbox_format =
// "mbox"), prepending `Return-Path: <reverse-path>`. Recipients outside
// local_domains are left untouched for the outbound queue.
//
// Crash safety: the mailbox write is durable (fsync) before the spool is
// told `delivered`, so a crash in between gives at most a duplicate copy,
// never a loss. The spool entry disappears once every recipient is
// delivered (Spool::update).
//
// Routing: postmaster@<any local domain> and the bare "postmaster"
// (RFC 5321 §4.5.1) go to Config::postmaster. With a UserDb, a recipient
// who is not (or no longer) a user is bounced `550 5.1.1`, a disabled one
// `550 5.2.1` (the entry then stays for the DSN writer, see spool.hpp).
//
// Temporary trouble (an mbox locked by another process, a full disk, a
// busy database) defers the recipient in the spool with its reply, the
// attempt count and the next attempt (1 s doubling to 60 s); after
// [queue] lifetime it is bounced.
//
// Threads: deliver() is safe from any thread; two deliveries of one entry
// at once are prevented by the worker, not by deliver() itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "store/direct_delivery.hpp"
#include "store/spool.hpp"
#include "store/users.hpp"

namespace postern::store {

class LocalDelivery {
 public:
  // `users` may be null: every local address is then a mailbox. Both must outlive this.
  LocalDelivery(std::shared_ptr<const config::Config> config, Spool& spool, UserDb* users);
  ~LocalDelivery();
  LocalDelivery(const LocalDelivery&) = delete;
  LocalDelivery& operator=(const LocalDelivery&) = delete;

  // Delivers the due local recipients of one entry now, in this thread.
  // Returns when the earliest deferred local recipient is due again, or
  // nullopt when none is left. Never throws for delivery trouble (it is
  // recorded in the spool); throws IoError only if the spool itself fails.
  std::optional<std::chrono::system_clock::time_point> deliver(std::string_view id);

  // Delivery before the 250 (direct_delivery.hpp), for a message held in
  // memory whose every recipient is a deliverable local Maildir now. True:
  // delivered and durable (answer 250; nothing was spooled). False: it is
  // not such a message, or a mailbox or the journal failed: spool it.
  bool deliver_now(const std::string& id, const Envelope& envelope, std::string_view message);

  // True when `address` is handled here (Config::delivers_locally).
  bool is_local(std::string_view address) const;

  // SIGHUP: later deliveries use `config`; every spooled entry is looked at again.
  void reload(std::shared_ptr<const config::Config> config);
  std::shared_ptr<const config::Config> config() const;

  // The background worker: `threads` threads deliver submitted entries and
  // retry deferred ones when due. start() first completes what the journal
  // holds (direct_delivery.hpp) and queues every entry already in the spool
  // (mail accepted before a crash or restart).
  void start(unsigned threads = 2);
  // Queues an entry for delivery; never blocks on I/O. Call after the 250.
  void submit(std::string id);
  // Stops the worker (waits for deliveries in progress). Idempotent.
  void stop();
  // True when nothing is queued, due or in progress (tests).
  bool idle();

  // Delay before retry number `attempts` (1-based): 1 s doubling, capped at 60 s.
  static std::chrono::seconds retry_delay(unsigned attempts);

 private:
  struct Target {
    std::filesystem::path mailbox;
    std::optional<std::string> bounce;  // permanent failure reply
    std::optional<std::string> defer;   // temporary failure reply
  };
  std::optional<Target> resolve(const config::Config& config, std::string_view address) const;
  // Where each recipient of `envelope` goes if all of them are deliverable
  // Maildirs now (one target per mailbox); with `elsewhere`, the deliverable
  // ones, and the others' indexes go there.
  std::vector<DirectDelivery::Target> direct_targets(const config::Config& config, const Envelope& envelope,
                                                     std::vector<std::size_t>* elsewhere = nullptr) const;
  void recover_journal();
  void run();

  mutable std::mutex config_mutex_;
  std::shared_ptr<const config::Config> config_;
  Spool& spool_;
  UserDb* users_;
  DirectDelivery direct_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> ready_;
  std::multimap<std::chrono::system_clock::time_point, std::string> timed_;
  std::set<std::string> busy_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

}  // namespace postern::store
