// Local delivery: the transport that writes a message into the mailbox of
// each recipient in local_domains (Maildir, or mbox when mailbox_format =
// "mbox"), prepending `Return-Path: <reverse-path>`. It keeps no queue of
// its own: the queue's scheduler (queue/scheduler.hpp) decides when a
// spooled recipient is attempted, records the result in the spool and
// retries; deliver_now() is the path before the 250 that needs no spool.
//
// Crash safety: attempt() makes each mailbox write durable (fsync) before
// it returns `delivered`, and the scheduler records that in the spool only
// afterwards. A crash in between repeats the attempt, which finds the copy
// the first one left (a Maildir file under its fixed name, maildir.hpp; the
// same octets at the end of an mbox, mbox.hpp) and keeps it: exactly once.
//
// Routing: postmaster@<any local domain> and the bare "postmaster"
// (RFC 5321 §4.5.1) go to Config::postmaster. With a UserDb, a recipient
// who is not (or no longer) a user is bounced `550 5.1.1`, a disabled one
// `550 5.2.1`. Temporary trouble (an mbox locked by another process, a full
// disk, a busy database) is a deferred result with its reply.
//
// Threads: every member function is safe from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "delivery/direct_delivery.hpp"
#include "delivery/maildir_stream.hpp"
#include "store/forwarding.hpp"
#include "store/spool.hpp"
#include "store/users.hpp"

namespace postern::delivery {

using store::RecipientStatus;
using store::Forwarding;
using store::Envelope;
using store::Spool;
using store::SpoolEntry;
using store::UserDb;
using store::Expansion;

class LocalDelivery {
 public:
  // `users` may be null: every local address is then a mailbox. Both must outlive this.
  LocalDelivery(std::shared_ptr<const config::Config> config, Spool& spool, UserDb* users);
  ~LocalDelivery();
  LocalDelivery(const LocalDelivery&) = delete;
  LocalDelivery& operator=(const LocalDelivery&) = delete;

  // One recipient's result in one attempt.
  struct Result {
    std::size_t recipient = 0;  // index into the entry's recipients
    RecipientStatus status = RecipientStatus::deferred;  // delivered, deferred or bounced
    std::string reply;  // "250 2.0.0 Delivered", "450 4.2.1 ...", "550 5.1.1 No such user"
  };
  // Writes the message of `entry` into the mailboxes of its recipients
  // `recipients` (indexes; each must be is_local()), one copy per mailbox
  // however many recipients name it. Blocks on disk I/O. Mailbox trouble
  // is a deferred result, never a throw; empty when the message is gone
  // from the spool.
  // With an LMTP transport ([delivery] transport = "lmtp:..."), aliases
  // are expanded and unknown or disabled users bounced here as ever, and
  // the recipients left for the LMTP server go to `lmtp` (without a
  // result) for the caller to deliver (delivery/lmtp.hpp).
  std::vector<Result> attempt(const SpoolEntry& entry, const std::vector<std::size_t>& recipients,
                              std::vector<std::size_t>* lmtp = nullptr);

  // Delivery before the 250 (direct_delivery.hpp), for a message held in
  // memory whose every recipient is a deliverable local Maildir now. True:
  // delivered and durable (answer 250; nothing was spooled). False: it is
  // not such a message, or a mailbox or the journal failed: spool it.
  bool deliver_now(const std::string& id, const Envelope& envelope, std::string_view message);
  // The same without waiting for the journal's flush (DirectDelivery::
  // deliver_async): false when it is not such a message (nothing was done,
  // `done` is not called); else true, and `done` is called exactly once
  // with what deliver_now would return. `envelope` and `message` must stay
  // valid until then.
  bool deliver_now_async(const std::string& id, const Envelope& envelope, std::string_view message,
                         DirectDelivery::Done done);

  // Delivery before the 250 for a message too large for memory
  // (maildir_stream.hpp): when every recipient of `envelope` is a
  // deliverable local Maildir now, the stream its octets go into (the
  // Return-Path: head is written already); else nullptr. `first` is the
  // start of the message (for its line ends). Throws IoError when a
  // mailbox cannot be written.
  std::unique_ptr<MaildirStream> open_stream(const std::string& id, const Envelope& envelope, std::string_view first);
  // Logs each recipient delivered (after deliver_now or a committed stream).
  void log_delivered(const std::string& id, const Envelope& envelope) const;

  // Where alias expansions go (the intake's accept); without it, an alias
  // recipient is deferred. Set before start().
  using Inject = std::function<std::string(const Envelope& envelope, std::string_view message)>;
  void set_inject(Inject inject) { inject_ = std::move(inject); }

  // True when `address` is handled here (Config::delivers_locally).
  bool is_local(std::string_view address) const;

  // SIGHUP: later deliveries use `config`.
  void reload(std::shared_ptr<const config::Config> config);
  std::shared_ptr<const config::Config> config() const;

  // Completes what the journal holds (direct_delivery.hpp; recipients that
  // are no longer local Maildirs are spooled under the same id) and starts
  // the background syncfs rounds. Call before the spool is scheduled.
  void start();
  // Stops the syncfs rounds (what is unconfirmed stays in the journal). Idempotent.
  void stop();

 private:
  struct Target {
    std::string address;  // canonical (not for an alias)
    std::filesystem::path mailbox;
    std::optional<std::string> bounce;  // permanent failure reply
    std::optional<std::string> defer;   // temporary failure reply
    std::optional<Expansion> expansion;  // an alias: deliver by re-injection
  };
  std::optional<Target> resolve(const config::Config& config, std::string_view address, bool expand_aliases) const;
  // Re-injects what the alias recipients of `entry` expand to; the reply for all of them.
  Result forward(const config::Config& config, const SpoolEntry& entry, const std::vector<std::pair<std::size_t, Expansion>>& aliases,
                 std::optional<std::string>& body);
  // Where each recipient of `envelope` goes if all of them are deliverable
  // Maildirs now (one target per mailbox); with `elsewhere`, the deliverable
  // ones, and the others' indexes go there.
  std::vector<DirectDelivery::Target> direct_targets(const config::Config& config, const Envelope& envelope,
                                                     std::vector<std::size_t>* elsewhere = nullptr) const;
  void recover_journal();
  // At start: the file systems of the mailboxes and the spool, and how each is synced.
  void log_sync_mode() const;

  mutable std::mutex config_mutex_;
  std::shared_ptr<const config::Config> config_;
  Spool& spool_;
  UserDb* users_;
  mutable Forwarding forwarding_;
  Inject inject_;
  DirectDelivery direct_;
  std::atomic<bool> stats_logged_{false};
};

}  // namespace postern::delivery
