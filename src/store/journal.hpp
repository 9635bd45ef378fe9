// The delivery journal: the durable record of messages that were delivered
// to local mailboxes before their 250 (delivery/direct_delivery.hpp), kept
// until those mailbox files are known to be on stable storage.
//
// It is an append-only log of segment files under data_dir/spool/journal/
// (<16 hex digits>.log). append() adds one message record and returns when
// it is durable; concurrent appends share one write and one fdatasync
// (group commit), so many sessions pay for one disk flush between them.
// append_async() does the same without waiting: the first appender that
// finds no flush under way flushes (and goes on flushing while more
// arrive), and every appender's callback is called once its batch is
// durable, on the flushing thread; the others return at once.
// retire() records that messages need nothing more; it is not synced (a
// lost retire record costs a check at start-up, never a loss or a
// duplicate). A segment whose every message is retired is deleted.
//
// Record: "J <type> <length> <crc32 hex>\n" then <length> payload octets.
// Type M: a spool message file (encode_message_file); type R: retired queue
// ids, one per line. Reading stops at the first record that is torn or
// whose checksum does not match: nothing after it was ever acknowledged.
//
// Threads: every member function is safe from any thread. append() blocks
// on disk I/O; so may append_async(), on the thread that happens to flush. Errors throw store::IoError; after a failed flush the
// segment is closed and the next append starts a new one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/durable_file.hpp"
#include "store/envelope.hpp"

namespace postern::store {

class Journal {
 public:
  // Uses `dir`, created (mode 0700) with the first segment.
  explicit Journal(std::filesystem::path dir, std::uint64_t segment_octets = 64 * 1024 * 1024);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  struct Entry {
    std::string id;
    Envelope envelope;
    std::string message;
  };
  // The messages recorded and not retired, oldest first. Call once, before
  // the first append(); the entries stay live until retire().
  std::vector<Entry> recover();

  // Records a message durably (returns after the shared fdatasync). Throws
  // IoError; then the message counts as never recorded.
  void append(std::string_view id, const Envelope& envelope, std::string_view message);

  // The same, calling `durable` with 0 once the record is on stable storage
  // or with an errno value if its batch failed (then it counts as never
  // recorded). `durable` is called exactly once, maybe before this returns,
  // maybe on another appender's thread, never with the journal's lock held.
  using Durable = std::function<void(int error)>;
  void append_async(std::string_view id, const Envelope& envelope, std::string_view message, Durable durable);

  // These messages need nothing more. Unknown ids are ignored.
  void retire(const std::vector<std::string>& ids);

  // Writes the retire records still in memory and closes the segment; with
  // nothing live, deletes every segment. Later appends open a new one.
  void close();

  // Messages appended (or recovered) and not retired.
  std::size_t live() const;
  // fdatasync calls so far (benchmarks, tests).
  std::uint64_t flushes() const;

  // Encoding, exposed for tests and the fuzz target.
  static std::string encode_record(char type, std::string_view payload);
  struct Record {
    char type = 0;
    std::string_view payload;
  };
  // Decodes the records at the start of `bytes`; stops at the first bad one.
  static std::vector<Record> decode_records(std::string_view bytes);

 private:
  struct Batch;
  // Adds a record to the open batch.
  void queue_locked(std::string_view id, std::string record, Durable durable);
  // One group commit; the batch's callbacks are called after the lock is
  // released, and the lock is held again on return.
  void flush_locked(std::unique_lock<std::mutex>& lock);
  void open_segment_locked();
  std::filesystem::path segment_path(std::uint64_t seq) const;

  std::filesystem::path dir_;
  std::uint64_t segment_octets_;

  mutable std::mutex mutex_;
  std::condition_variable flushed_cv_;
  std::string buffer_;            // records not yet written
  std::shared_ptr<Batch> open_;   // the batch new appends join
  bool flushing_ = false;
  std::uint64_t flushes_ = 0;

  Fd fd_;                         // the current segment, or closed
  std::uint64_t segment_ = 0;     // its sequence number
  std::uint64_t segment_size_ = 0;
  std::uint64_t next_segment_ = 1;
  std::map<std::uint64_t, std::size_t> live_per_segment_;
  std::unordered_map<std::string, std::uint64_t> segment_of_;
};

}  // namespace postern::store
