// Delivery before the 250, for messages whose every recipient is a local
// Maildir (as an LMTP server delivers): no spool copy, and no fsync of its
// own per message. The write path, in order:
//
//   1. each mailbox gets the message as an unnamed file of new/ (or under
//      tmp/ where the file system has no O_TMPFILE: delivery/staged_file.hpp),
//      without fsync, to be named after the queue id and the recipient:
//      <secs>.Q<queue id>R<n>.<host>,S=<size>;
//   2. the message is appended to the journal (store/journal.hpp), whose
//      group commit shares one fdatasync among every session that is there
//      at the same moment: from here on, the message is on stable storage;
//   3. each file gets its name in new/ (linkat, or rename from tmp/), and
//      the session answers 250;
//   4. in the background, a round makes every mailbox file written since
//      the last one durable: each file fdatasynced and each new/ directory
//      that names one fsynced (delivery/mailbox_sync.hpp), or, with
//      mailbox_sync = "syncfs", one syncfs(2) of the file system (sync_mode.hpp);
//      then those messages are retired from the journal.
//
// Why a crash at any instant loses nothing and duplicates nothing:
//   * before 2 is durable, no 250 was sent: the client still has the mail
//     (an unnamed file leaves nothing; a tmp/ file may remain, which
//     Maildir readers clean up);
//   * after 2 and before the round of 4, the journal holds the message:
//     at start-up (recover()) every live journal message is checked against
//     its mailboxes by its deterministic name, in new/ and in cur/ (a reader
//     may have moved it), octet for octet; a file that is missing or torn is
//     written again, durably (fsync of the file and of new/); then retired;
//   * after 4, the mailbox files are on stable storage themselves.
//
// Threads: deliver() and deliver_async() from any thread (they block on
// disk I/O); one background thread runs the rounds. Backpressure: deliver() waits
// while more than `max_unconfirmed` messages await their round.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/durable_file.hpp"
#include "store/envelope.hpp"
#include "store/journal.hpp"
#include "delivery/mailbox_sync.hpp"
#include "delivery/sync_mode.hpp"

namespace postern::delivery {

using store::Fd;
using store::Envelope;
using store::Journal;

class DirectDelivery {
 public:
  struct Target {
    std::filesystem::path mailbox;  // Maildir root
    std::size_t recipient = 0;      // index in envelope.recipients
  };

  explicit DirectDelivery(std::filesystem::path journal_dir, std::size_t max_unconfirmed = 4096);
  ~DirectDelivery();
  DirectDelivery(const DirectDelivery&) = delete;
  DirectDelivery& operator=(const DirectDelivery&) = delete;

  // Steps 1–3 for `head` (Return-Path:) + `message`. True: delivered and
  // durable, answer 250. False: nothing was delivered (a mailbox or the
  // journal failed; the error is logged) — spool the message instead.
  bool deliver(const std::string& id, const Envelope& envelope, std::string_view head, std::string_view message,
               const std::vector<Target>& targets);

  // The same without waiting for the journal's flush: `done` is called
  // exactly once with what deliver() would return, maybe before this
  // returns, maybe later on the thread that flushed the journal (which
  // also gives the files their names). `envelope` and `message` must stay
  // valid until then. Steps 1 and 2 still block on disk I/O.
  using Done = std::function<void(bool delivered)>;
  void deliver_async(const std::string& id, const Envelope& envelope, std::string head, std::string_view message,
                     const std::vector<Target>& targets, Done done);

  // At start-up, before deliver(): the journal's live messages. For each,
  // `resolve` says where its recipients go now: the mailbox targets, and the
  // recipients that are no longer local Maildirs (`elsewhere`); every target
  // is completed durably, then the message is retired. `leftover` is called
  // first with the `elsewhere` recipients (to spool them) and must throw if
  // it cannot; the message then stays in the journal.
  struct Recovered {
    std::size_t messages = 0;
    std::size_t rewritten = 0;  // mailbox files missing or torn, written again
  };
  struct Resolution {
    std::vector<Target> targets;
    std::vector<std::size_t> elsewhere;
  };
  using Resolve = std::function<Resolution(const Envelope&)>;
  using Head = std::function<std::string(const Envelope&, std::string_view message)>;
  using Leftover = std::function<void(const Journal::Entry&, const std::vector<std::size_t>& recipients)>;
  Recovered recover(const Resolve& resolve, const Head& head, const Leftover& leftover);

  // How mailboxes are synced (mailbox_sync); set before start().
  void set_sync_policy(config::MailboxSync policy) { policy_ = policy; }

  // Starts the round thread. stop() confirms what is pending, then stops.
  void start();
  void stop();

  // Messages delivered and not yet covered by a round.
  std::size_t unconfirmed() const;
  std::uint64_t sync_rounds() const;
  const Journal& journal() const { return journal_; }

 private:
  struct Pending {
    std::string id;
    std::vector<dev_t> devices;      // to syncfs (syncfs mode)
    std::vector<MailboxFile> files;  // to fsync with their directories (fsync mode)
  };
  struct InFlight;
  // Step 3 for a message whose journal batch is durable (error 0) or failed.
  void durable(InFlight& message, int error);
  // Calls the message's `done`, once, and gives its room back.
  void finish(InFlight& message, bool delivered);
  struct Mailbox {
    dev_t device = 0;
    SyncMode mode = SyncMode::syncfs;
    bool unnamed = true;  // O_TMPFILE works there (delivery/staged_file.hpp)
  };
  // Whether `mailbox` is known to have tmp/new/cur; creates them once. Returns its device and sync mode.
  Mailbox ensure_mailbox(const std::filesystem::path& mailbox);
  // O_TMPFILE or linking through /proc failed there: tmp/ from now on.
  void no_unnamed_files(const std::filesystem::path& mailbox);
  void run();
  bool confirm(std::vector<Pending>& batch);

  static constexpr std::size_t round_batch = 512;  // a round starts early at this many

  Journal journal_;
  std::size_t max_unconfirmed_;

  mutable std::mutex mutex_;
  std::condition_variable pending_cv_;  // work for the round thread
  std::condition_variable room_cv_;     // room for deliver()
  std::vector<Pending> pending_;
  std::size_t confirming_ = 0;
  std::size_t in_flight_ = 0;  // written, waiting for the journal: they hold open files too
  bool stopping_ = false;
  std::uint64_t rounds_ = 0;
  std::thread thread_;

  std::mutex mailboxes_mutex_;
  config::MailboxSync policy_ = config::MailboxSync::automatic;
  std::unordered_map<std::string, Mailbox> mailboxes_;
  std::map<dev_t, SyncMode> modes_;
  std::map<dev_t, Fd> sync_fds_;
};

}  // namespace postern::delivery
