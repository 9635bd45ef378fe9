// The durable spool (SPEC §8 `spool/`): where an accepted message lives
// until every recipient is delivered or bounced. `put()` returns only when
// the message and its envelope are on stable storage, so the session may
// answer 250 after DATA/BDAT (SPEC §5); a crash after that loses nothing.
//
// Layout, one message per queue id, under data_dir/spool/:
//   <id>.msg    envelope + message bytes, written once (never modified);
//               records with explicit lengths and a final END record, so a
//               torn or truncated file is recognised and discarded on load.
//   <id>.state  per-recipient state (pending, deferred with last reply,
//               attempts and next attempt, delivered, bounced), replaced
//               durably on each update. Absent = every recipient pending.
//   .*.tmp      temporaries; removed by recover().
//
// Durability design (what makes a 250 honest): put() writes the .msg file
// under a temporary name with O_EXCL, fsyncs it, links it to <id>.msg
// (link fails if the id exists, so ids are unique) and then waits for a
// directory fsync. The directory fsync is group-committed across sessions:
// one fsync covers every put whose link happened before it started, so
// concurrent sessions share it. Cost: one file fsync per message plus at
// most one directory fsync per batch.
//
// Threads: every member function is safe to call from any thread. put(),
// update() and remove() block on disk I/O (fsync): call them from a thread
// that may block, not from a latency-critical event loop.
//
// Errors: disk trouble throws store::IoError (a std::system_error). For the
// session that is OUR problem, never the client's: answer
// `451 4.3.0 ...`, never 5xx. Nothing is left half-written: when put()
// throws, no entry exists under any id.
//
// Consumers: LocalDelivery (delivery/local_delivery.hpp) handles recipients
// in local_domains; the outbound queue handles the others. Each only
// touches its own recipients through update(), which serialises changes
// to one entry. The consumer whose update leaves every recipient final
// and something to report (a bounce: send the DSN) calls remove() after.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/durable_file.hpp"
#include "store/envelope.hpp"

namespace postern::store {

enum class RecipientStatus { pending, deferred, delivered, bounced };

std::string_view to_string(RecipientStatus status);

struct RecipientState {
  std::string address;  // the forward-path, as in Envelope::recipients
  RecipientStatus status = RecipientStatus::pending;
  unsigned attempts = 0;
  std::string last_reply;  // e.g. "450 4.2.1 Mailbox temporarily unavailable"; "" if none
  std::chrono::system_clock::time_point last_attempt{};
  std::chrono::system_clock::time_point next_attempt{};  // meaningful when deferred
  bool delay_warned = false;  // the sender got the one "delayed" DSN ([queue] delay_warning)

  bool final() const { return status == RecipientStatus::delivered || status == RecipientStatus::bounced; }
};

struct SpoolEntry {
  std::string id;
  Envelope envelope;
  std::vector<RecipientState> recipients;  // same order as envelope.recipients
  std::uint64_t message_size = 0;          // octets of the message as passed to put()
};

class Spool {
 public:
  // Uses (creating durably, mode 0700) `dir`. Throws IoError if it cannot.
  explicit Spool(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }

  // Stores the message durably and returns its new queue id (16 lower-case
  // hex digits: 8 of time, 8 unique in this process). Blocks until on stable storage.
  // Throws IoError (answer 451 4.3.0) or std::invalid_argument (no recipients).
  std::string put(const Envelope& envelope, std::string_view message);
  // The same under an id chosen beforehand with new_id(), so the message's
  // own Received: header can name it. Throws IoError(EEXIST) if it is taken.
  std::string put(const Envelope& envelope, std::string_view message, std::string_view id);
  // A fresh queue id for put(envelope, message, id): 8 hex digits of time,
  // 8 that do not repeat within this process (a counter, scrambled).
  static std::string new_id();

  // One message written as it arrives (DATA, BDAT), so memory per message
  // stays constant: the envelope first, then append() the message bytes,
  // then commit(), which is put()'s durable step. Until commit() returns
  // nothing is visible; a Writer destroyed without it (or after any
  // failure, ENOSPC included) leaves no file behind. Blocks on disk I/O.
  class Writer {
   public:
    // Throws IoError, or std::invalid_argument (no recipients, bad id).
    Writer(Spool& spool, const Envelope& envelope, std::string id);
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    // Throws IoError; after a throw the writer is closed.
    void append(std::string_view bytes);
    // Puts `bytes` before the message octets written so far (a header
    // field known only at the end of the message): the file is copied
    // once behind them. Throws IoError; after a throw the writer is closed.
    void prepend(std::string_view bytes);
    // Durable under the id (IoError EEXIST if it is taken); returns it.
    std::string commit();
    std::uint64_t size() const { return size_; }
    // Up to `max` message octets from `offset`, as appended so far (the
    // milters read the message back before it is committed). Throws IoError.
    std::string read(std::uint64_t offset, std::size_t max) const;

   private:
    void discard();
    Spool& spool_;
    std::string id_;
    std::filesystem::path tmp_;
    Fd fd_;
    std::uint64_t length_offset_ = 0;
    std::uint64_t message_offset_ = 0;
    std::uint64_t size_ = 0;
  };

  // Ids of complete entries, oldest first. Partial or foreign files are skipped.
  std::vector<std::string> list() const;

  // Envelope and recipient states of one entry (the message bytes are not
  // read); nullopt if absent or incomplete.
  std::optional<SpoolEntry> load(std::string_view id) const;

  // The message bytes of one entry; nullopt if absent or incomplete.
  std::optional<std::string> message(std::string_view id) const;

  // load() and message() through one open of the .msg file (one read of
  // it when it is small); nullopt if absent or incomplete. Without
  // `states` the .state file is not read: every recipient looks pending.
  std::optional<std::pair<SpoolEntry, std::string>> load_with_message(std::string_view id, bool states = true) const;

  // Reads the recipient states, lets `change` edit them (it may not add or
  // remove recipients), writes them durably and returns them. Changes to
  // one entry are serialised. When every recipient ends up `delivered`,
  // the entry is removed instead (nothing is left to do or to report);
  // entries with `bounced` recipients stay until remove(), so the DSN
  // writer sees them. Returns nullopt if the entry is gone.
  // Throws IoError; on throw the stored state is unchanged or fully new.
  std::optional<std::vector<RecipientState>> update(
      std::string_view id, const std::function<void(std::vector<RecipientState>&)>& change);

  // update() for one of many outcomes recorded together: `entry` is the
  // entry as loaded before (its .msg file never changes, so only the
  // states are read again), and when every recipient ends up delivered
  // the removal is not synced yet (`removed` is set): call
  // sync_removals() once for the batch before anyone counts on it.
  std::optional<std::vector<RecipientState>> update_unsynced(
      const SpoolEntry& entry, const std::function<void(std::vector<RecipientState>&)>& change, bool& removed);
  // One directory fsync (group-committed) that covers every removal made
  // before the call. Throws IoError.
  void sync_removals() { sync_dir_grouped(); }

  // Deletes the entry (message first, then state, so a crash in between
  // leaves an orphan state file that recover() removes, never a message
  // whose finished recipients look pending), then fsyncs the directory
  // (group-committed, as put's), so the entry stays deleted after a crash.
  // Absent is not an error. Throws IoError when the fsync fails.
  void remove(std::string_view id);

  // At start-up: deletes temporaries, incomplete .msg files and orphan
  // .state files. Returns how many files it removed.
  std::size_t recover();

  // Directory fsyncs done so far (for tests and benchmarks).
  std::uint64_t dir_syncs() const;

  static bool valid_id(std::string_view id);

 private:
  std::filesystem::path msg_path(std::string_view id) const;
  std::filesystem::path state_path(std::string_view id) const;
  std::optional<std::vector<RecipientState>> read_states(std::string_view id, const Envelope& envelope) const;
  // update()'s work once the envelope and current states are known; the
  // lock of the entry is held.
  std::optional<std::vector<RecipientState>> apply(std::string_view id, std::vector<RecipientState> states,
                                                   const std::function<void(std::vector<RecipientState>&)>& change,
                                                   bool sync, bool& removed);
  void sync_dir_grouped();
  std::mutex& entry_mutex(std::string_view id);

  std::filesystem::path dir_;

  // Group commit of directory fsyncs.
  mutable std::mutex sync_mutex_;
  std::condition_variable sync_cv_;
  std::uint64_t sync_started_ = 0;
  std::uint64_t sync_completed_ = 0;
  int sync_last_errno_ = 0;
  bool sync_running_ = false;

  static constexpr std::size_t stripes = 64;
  std::mutex entry_mutexes_[stripes];
};

// Encoding, exposed for tests: the .msg file bytes for an entry, and the
// parser (nullopt when the bytes are not a complete, well-formed file).
std::string encode_message_file(std::string_view id, const Envelope& envelope, std::string_view message);
struct DecodedMessageFile {
  std::string id;
  Envelope envelope;
  std::uint64_t message_offset = 0;
  std::uint64_t message_size = 0;
};
// `head` is a prefix of the file (at least through the message record's
// header line); `file_size` its full size; `tail` the file's last bytes
// (at least the END record). nullopt if malformed or incomplete.
std::optional<DecodedMessageFile> decode_message_file(std::string_view head, std::uint64_t file_size,
                                                      std::string_view tail);
std::string encode_state_file(const std::vector<RecipientState>& states);
std::optional<std::vector<RecipientState>> decode_state_file(std::string_view bytes);

}  // namespace postern::store
