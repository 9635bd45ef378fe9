// Message acceptance: how a session hands a complete message to durable
// storage. accept() returns only when the message is on stable storage
// (SPEC §5: every 250 after DATA means fsync); the session sends 250 after
// it returns and 451 4.3.0 when it throws. It blocks on disk I/O, so the
// session calls it from the server's blocking pool, never an I/O thread.
//
// The implementation (intake.cpp) wraps store::Spool (src/store/spool.hpp)
// and wakes whoever delivers from the spool (local delivery, the queue).
// Thread-safe: called concurrently from many sessions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/envelope.hpp"
#include "store/spool.hpp"


namespace postern::server {

class Intake {
 public:
  virtual ~Intake() = default;
  // Stores `message` (headers and body, CRLF lines, our Received: first)
  // durably under `queue_id`; returns it. Throws on failure (nothing stored).
  virtual std::string accept(const store::Envelope& envelope, std::string_view message, std::string_view queue_id) = 0;
  // A fresh queue id, chosen before the message is written so that its
  // Received: header can carry it.
  virtual std::string new_id() = 0;
  // The streaming form of accept(), for a message that arrives in pieces:
  // a writer for `queue_id` (blocks on disk I/O; throws store::IoError).
  // After its commit() succeeds, call accepted(queue_id).
  virtual std::unique_ptr<store::Spool::Writer> open(const store::Envelope& envelope, const std::string& queue_id) = 0;
  void accepted(const std::string& queue_id) { notify(queue_id); }

  // Called after each successful accept() with the new queue id (from
  // the blocking pool thread; register before the server runs). Delivery and the queue register here to be
  // woken without polling.
  void on_accepted(std::function<void(const std::string& queue_id)> listener);

  // Delivery before the 250 (delivery/direct_delivery.hpp): accept() offers
  // each message to `deliver` first; when it returns true the message is
  // in its mailboxes and durable, and is not spooled (listeners are not
  // called). Register before the server runs.
  using DirectDeliver =
      std::function<bool(const std::string& queue_id, const store::Envelope& envelope, std::string_view message)>;
  void deliver_directly(DirectDeliver deliver) { direct_ = std::move(deliver); }
  // Its form that does not wait for the flush: false when the message is
  // not for it (nothing done, `done` not called), else `done` is called
  // exactly once with what DirectDeliver would return.
  using DirectDeliverAsync = std::function<bool(const std::string& queue_id, const store::Envelope& envelope,
                                                std::string_view message, std::function<void(bool delivered)> done)>;
  void deliver_directly_async(DirectDeliverAsync deliver) { direct_async_ = std::move(deliver); }

  // The two halves of accept(), for a caller that does not hold a thread
  // while a direct delivery's journal flush is under way. deliver_async():
  // false when the message is not for the mailboxes alone (nothing done);
  // else `done` is called exactly once, maybe on another thread, true when
  // it is delivered and durable, false when it must be spooled after all.
  // `envelope` and `message` must stay valid until then. spool(): the
  // spool's part of accept() (blocks on disk I/O, throws store::IoError).
  bool deliver_async(const store::Envelope& envelope, std::string_view message, const std::string& queue_id,
                     std::function<void(bool delivered)> done) {
    return direct_async_ && !queue_id.empty() && direct_async_(queue_id, envelope, message, std::move(done));
  }
  virtual std::string spool(const store::Envelope& envelope, std::string_view message, std::string_view queue_id) = 0;

  // The same for a message too large for memory (delivery/maildir_stream.hpp):
  // its octets go straight into the mailboxes as they arrive, and commit()
  // returns once it is delivered and durable (nothing spooled, listeners
  // not called). Throws store::IoError; after a throw read() still gives
  // the message octets appended so far, to spool them instead.
  class DirectStream {
   public:
    virtual ~DirectStream() = default;
    virtual void append(std::string_view bytes) = 0;
    virtual std::uint64_t size() const = 0;
    virtual std::string read(std::uint64_t offset, std::size_t max) const = 0;
    virtual void commit() = 0;
  };
  // A stream for the message when every recipient can take it so, else
  // nullptr; `first` is the start of the message. Throws store::IoError.
  using OpenDirect = std::function<std::unique_ptr<DirectStream>(const std::string& queue_id,
                                                                 const store::Envelope& envelope, std::string_view first)>;
  void stream_directly(OpenDirect open) { open_direct_ = std::move(open); }
  std::unique_ptr<DirectStream> open_direct(const std::string& queue_id, const store::Envelope& envelope,
                                            std::string_view first) const {
    return open_direct_ ? open_direct_(queue_id, envelope, first) : nullptr;
  }

 protected:
  void notify(const std::string& queue_id);
  DirectDeliver direct_;
  DirectDeliverAsync direct_async_;
  OpenDirect open_direct_;

 private:
  std::vector<std::function<void(const std::string&)>> listeners_;
};

// The intake that puts messages into `spool` (which must outlive it).
std::unique_ptr<Intake> make_intake(store::Spool& spool);

}  // namespace postern::server
