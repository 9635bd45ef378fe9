// A message too large to hold in memory, delivered before its 250 into
// local Maildirs with its octets written once: they stream into tmp/ of
// the first mailbox as they arrive; at commit() the file is fsynced, linked
// into new/ of every other mailbox (a copy where link(2) answers EXDEV: a
// mailbox on another file system), renamed into new/ of the first, and
// every new/ directory is fsynced. When commit() returns the message is
// delivered and durable; there is no spool entry and no journal record.
//
// Names are the fixed ones every Postern delivery gives a copy
// (maildir.hpp: <secs>.Q<queue id>R<n>.<host>,S=<size>). The size is known
// only at the end, so the file grows in tmp/ under that name without its
// ",S=" part and gets its full name when it moves into new/.
//
// A crash before commit() leaves at most the tmp/ file (Maildir readers
// remove old tmp/ files). A crash inside commit() may leave the message in
// some mailboxes with no 250 sent: the client sends it again and those
// mailboxes get a second copy, the duplicate every SMTP server risks
// between its write and its reply (RFC 5321 §6.1, RFC 1047).
//
// Not thread-safe (one session's message). Errors throw store::IoError;
// after a throw from commit() nothing is left in new/ (what it linked or
// renamed there is unlinked again), and read() still gives the message
// (from the open file, whatever its name).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "store/durable_file.hpp"
#include "store/envelope.hpp"

namespace postern::delivery {

class MaildirStream {
 public:
  struct Target {
    std::filesystem::path mailbox;  // Maildir root
    std::size_t recipient = 0;      // index in envelope.recipients (names the copy)
  };

  // Creates the file in tmp/ of targets.front() (every target's tmp/new/cur
  // made if missing) and writes `head` (Return-Path:) into it. Throws IoError.
  MaildirStream(const store::Envelope& envelope, std::string queue_id, std::string_view head,
                std::vector<Target> targets);
  // Unlinks the tmp/ file unless committed.
  ~MaildirStream();
  MaildirStream(const MaildirStream&) = delete;
  MaildirStream& operator=(const MaildirStream&) = delete;

  // Message octets (after the head). Throws IoError; the octets appended
  // before a failed call stay readable.
  void append(std::string_view bytes);
  // Message octets appended so far (the head not counted).
  std::uint64_t size() const { return size_; }
  // Up to `max` of them from `offset` (to move the message elsewhere after a failure).
  std::string read(std::uint64_t offset, std::size_t max) const;
  // Delivers to every target durably (see above). Throws IoError.
  void commit();

  // Where the copy of `target` is once committed (new/<fixed name>).
  std::filesystem::path final_path(const Target& target) const;

 private:
  std::string name_for(const Target& target) const;
  void copy_to(const std::filesystem::path& tmp) const;

  store::Envelope envelope_;
  std::string queue_id_;
  std::vector<Target> targets_;
  std::filesystem::path tmp_;  // tmp/ of the first mailbox, unsized name
  store::Fd fd_;
  std::uint64_t head_size_ = 0;
  std::uint64_t size_ = 0;
  bool committed_ = false;
};

}  // namespace postern::delivery
