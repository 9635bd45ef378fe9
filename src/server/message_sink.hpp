// The body of one DATA or BDAT transaction on its way to the spool. The
// first `memory_octets` are held in memory (most messages fit, and then
// the whole message is written, synced and linked in one trip to the
// blocking pool); past that, every piece goes straight into the spool file
// as it arrives, so a session's memory stays bounded whatever the size.
//
// When every recipient is a local Maildir and nothing will rewrite the
// message (allow_direct()), the octets past memory go into the mailboxes
// instead (Intake::DirectStream): written once, delivered at commit(), no
// spool file. If that fails (a mailbox cannot be written), what it holds
// is moved into a spool file and the message goes on as any other.
//
// A disk error while streaming (ENOSPC, EIO) is kept, the file is dropped,
// and later pieces are ignored: the session reads the body to its end,
// stays in step, and answers once (452 4.3.1 for a full disk, 451 4.3.0
// for anything else).
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "server/intake.hpp"
#include "smtp/data_decoder.hpp"
#include "store/envelope.hpp"
#include "store/spool.hpp"

namespace postern::server {

class Server;

class MessageSink {
 public:
  static constexpr std::size_t memory_octets = 256 * 1024;
  // All sessions together hold at most about this much body in memory;
  // beyond it every piece goes to disk at once.
  static constexpr std::size_t memory_budget_octets = 32 * 1024 * 1024;
  // Body octets held in memory by every sink of the process right now.
  static std::size_t in_memory();

  // `received` (our Received: header) is written first.
  MessageSink(Server& server, store::Envelope envelope, std::string queue_id, std::string received);
  ~MessageSink();
  MessageSink(const MessageSink&) = delete;
  MessageSink& operator=(const MessageSink&) = delete;

  // No milter or inbound check will read or change the message: it may be
  // delivered from the stream (call before the first add()).
  void allow_direct() { direct_allowed_ = true; }

  // Adds decoded message octets (moving to disk when over memory_octets).
  asio::awaitable<void> add(std::string bytes);
  // Puts `header` (whole fields, CRLF-terminated) at the top of the
  // message, above our Received: (for the results of checks that need the
  // whole message). A message already on disk is copied once behind it.
  asio::awaitable<void> prepend(std::string header);
  // Makes the message durable and returns its queue id (throws
  // store::IoError, also for an error kept from add()).
  asio::awaitable<std::string> commit();

  // ---- For the milters (server/milter_stage.hpp), before commit() ----
  // Octets to be stored so far: our Received: header and the message.
  std::uint64_t stored_size() const {
    return (writer_ ? writer_->size() : direct_ ? direct_->size() : 0) + pending_.size();
  }
  // Up to `max` of them from `offset` (read back from the spool file, on
  // the blocking pool, when the message went to disk). Throws store::IoError.
  asio::awaitable<std::string> read_back(std::uint64_t offset, std::size_t max);
  // Replaces what will be stored by `head` (header section and empty
  // line), then `body`, or when it is nullopt the octets stored from
  // `body_offset` on; and the envelope. A message on disk is copied into
  // a new spool file (the old one is dropped). Throws store::IoError.
  asio::awaitable<void> rewrite(store::Envelope envelope, std::string head, std::uint64_t body_offset,
                                std::optional<std::string> body);

  // Our Received: header, as written first.
  const std::string& received_header() const { return received_header_; }
  const store::Envelope& envelope() const { return envelope_; }
  const std::string& queue_id() const { return queue_id_; }
  // Message octets so far, without our Received: header.
  std::uint64_t size() const { return size_; }
  // Received: fields in the client's header section (ours not counted).
  unsigned received_count() const { return received_.count(); }
  // The first disk error, if any (errno value).
  int error() const { return error_; }

 private:
  asio::awaitable<void> spill();
  // On the blocking pool: `piece` to the stream or the spool file.
  void write_out(std::string_view piece);
  // On the blocking pool: what the stream holds into a spool file.
  void leave_direct();
  asio::awaitable<void> spool_instead();
  asio::awaitable<std::string> accept_in_memory(const std::string& message);
  void held(std::size_t octets);

  Server& server_;
  store::Envelope envelope_;
  std::string queue_id_;
  std::string pending_;  // not yet written to the file
  std::size_t held_ = 0;  // pending_'s share of the process-wide count
  std::unique_ptr<store::Spool::Writer> writer_;
  std::unique_ptr<Intake::DirectStream> direct_;
  bool direct_allowed_ = false;
  smtp::ReceivedCounter received_;
  std::uint64_t size_ = 0;
  std::size_t received_octets_ = 0;  // our Received: header
  std::string received_header_;
  int error_ = 0;
};

}  // namespace postern::server
