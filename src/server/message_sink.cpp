#include "server/message_sink.hpp"

#include <asio/associated_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <exception>
#include <memory>

#include "log/log.hpp"
#include "server/intake.hpp"
#include "server/server.hpp"

namespace postern::server {
namespace {
std::atomic<std::size_t> body_octets_in_memory{0};
}  // namespace

std::size_t MessageSink::in_memory() { return body_octets_in_memory.load(std::memory_order_relaxed); }

void MessageSink::held(std::size_t octets) {
  if (octets >= held_) body_octets_in_memory.fetch_add(octets - held_, std::memory_order_relaxed);
  else body_octets_in_memory.fetch_sub(held_ - octets, std::memory_order_relaxed);
  held_ = octets;
}

MessageSink::MessageSink(Server& server, store::Envelope envelope, std::string queue_id, std::string received)
    : server_(server), envelope_(std::move(envelope)), queue_id_(std::move(queue_id)), pending_(std::move(received)) {
  received_octets_ = pending_.size();
  received_header_ = pending_;
  held(pending_.size());
}

// A writer left open (the transaction was refused or the client vanished)
// removes its temporary file here: one unlink, on whatever thread.
MessageSink::~MessageSink() { held(0); }

asio::awaitable<void> MessageSink::add(std::string bytes) {
  size_ += bytes.size();
  received_.feed(bytes);
  if (error_) co_return;
  if (pending_.empty()) pending_ = std::move(bytes);
  else pending_ += bytes;
  held(pending_.size());
  if (pending_.size() >= memory_octets || in_memory() > memory_budget_octets) co_await spill();
}

asio::awaitable<void> MessageSink::spill() {
  std::string piece;
  piece.swap(pending_);
  held(0);
  try {
    co_await asio::co_spawn(
        server_.disk(),
        [&]() -> asio::awaitable<void> {
          write_out(piece);
          co_return;
        },
        asio::use_awaitable);
  } catch (const store::IoError& e) {
    error_ = e.code().value();
    writer_.reset();
    direct_.reset();
  } catch (const std::exception&) {
    error_ = EIO;
    writer_.reset();
    direct_.reset();
  }
}

void MessageSink::write_out(std::string_view piece) {
  if (!writer_ && !direct_ && direct_allowed_) {
    direct_allowed_ = false;  // asked once per message
    try {
      direct_ = server_.intake().open_direct(queue_id_, envelope_, piece);
    } catch (const std::exception& e) {
      log::Event("direct_stream_failed").add("queue_id", queue_id_).add("error", e.what());
    }
  }
  if (direct_) {
    try {
      direct_->append(piece);
      return;
    } catch (const std::exception& e) {
      log::Event("direct_stream_failed").add("queue_id", queue_id_).add("error", e.what());
      leave_direct();
    }
  }
  if (!writer_) writer_ = server_.intake().open(envelope_, queue_id_);
  writer_->append(piece);
}

void MessageSink::leave_direct() {
  auto stream = std::move(direct_);
  if (!stream) return;
  auto fresh = server_.intake().open(envelope_, queue_id_);
  constexpr std::size_t piece = 1024 * 1024;
  for (std::uint64_t at = 0; at < stream->size();) {
    auto bytes = stream->read(at, piece);
    if (bytes.empty()) throw store::IoError(EIO, "read back " + queue_id_);
    fresh->append(bytes);
    at += bytes.size();
  }
  writer_ = std::move(fresh);
}

// For the stages that read or change the message: it leaves the mailboxes for the spool.
asio::awaitable<void> MessageSink::spool_instead() {
  if (!direct_ || error_) co_return;
  try {
    co_await asio::co_spawn(
        server_.disk(),
        [&]() -> asio::awaitable<void> {
          leave_direct();
          co_return;
        },
        asio::use_awaitable);
  } catch (const store::IoError& e) {
    error_ = e.code().value();
    writer_.reset();
  } catch (const std::exception&) {
    error_ = EIO;
    writer_.reset();
  }
}

asio::awaitable<std::string> MessageSink::read_back(std::uint64_t offset, std::size_t max) {
  co_await spool_instead();
  if (error_) throw store::IoError(error_, "spool write");
  const std::uint64_t on_disk = writer_ ? writer_->size() : 0;
  std::string out;
  if (offset < on_disk) {
    out = co_await asio::co_spawn(
        server_.disk(), [&]() -> asio::awaitable<std::string> { co_return writer_->read(offset, max); },
        asio::use_awaitable);
    offset += out.size();
  }
  if (offset >= on_disk && out.size() < max) {
    const auto at = static_cast<std::size_t>(offset - on_disk);
    if (at < pending_.size()) out.append(pending_, at, max - out.size());
  }
  co_return out;
}

asio::awaitable<void> MessageSink::rewrite(store::Envelope envelope, std::string head, std::uint64_t body_offset,
                                           std::optional<std::string> body) {
  co_await spool_instead();
  if (error_) throw store::IoError(error_, "spool write");
  if (!writer_) {
    if (body) {
      // The old message goes first; the new head goes before the body in its own string.
      pending_ = std::string();
      body->insert(0, head);
      pending_ = std::move(*body);
    } else {
      // The head replaced in place; the body stays where it is.
      pending_.replace(0, std::min<std::size_t>(static_cast<std::size_t>(body_offset), pending_.size()), head);
    }
    body.reset();
  } else {
    // On disk: a new spool file with the new envelope, the old one's
    // body copied into it piece by piece (memory stays bounded).
    co_await asio::co_spawn(
        server_.disk(),
        [&]() -> asio::awaitable<void> {
          auto fresh = server_.intake().open(envelope, queue_id_);
          fresh->append(head);
          if (body) {
            fresh->append(*body);
          } else {
            constexpr std::size_t piece = 256 * 1024;
            for (std::uint64_t at = body_offset; at < writer_->size();) {
              auto bytes = writer_->read(at, piece);
              if (bytes.empty()) break;
              fresh->append(bytes);
              at += bytes.size();
            }
            const auto on_disk = writer_->size();
            if (body_offset <= on_disk) fresh->append(pending_);
            else if (body_offset - on_disk < pending_.size())
              fresh->append(std::string_view(pending_).substr(static_cast<std::size_t>(body_offset - on_disk)));
          }
          writer_ = std::move(fresh);
          co_return;
        },
        asio::use_awaitable);
    pending_.clear();
  }
  held(pending_.size());
  envelope_ = std::move(envelope);
  const auto stored = stored_size();
  size_ = stored > received_octets_ ? stored - received_octets_ : 0;
}

asio::awaitable<void> MessageSink::prepend(std::string header) {
  co_await spool_instead();
  if (error_ || header.empty()) co_return;
  if (!writer_) {
    pending_.insert(0, header);
    held(pending_.size());
    co_return;
  }
  try {
    co_await asio::co_spawn(
        server_.disk(),
        [&]() -> asio::awaitable<void> {
          writer_->prepend(header);
          co_return;
        },
        asio::use_awaitable);
  } catch (const store::IoError& e) {
    error_ = e.code().value();
    writer_.reset();
  } catch (const std::exception&) {
    error_ = EIO;
    writer_.reset();
  }
}

// All of it in memory: into the local mailboxes on the delivery pool, and
// back here when the journal's shared flush has it, without a thread
// waiting for that; or else into the spool on the disk pool.
asio::awaitable<std::string> MessageSink::accept_in_memory(const std::string& message) {
  auto initiate = [this, &message](auto handler) {
    using Handler = decltype(handler);
    struct Waiting {
      Handler handler;
      asio::executor_work_guard<asio::associated_executor_t<Handler>> work;
    };
    auto ex = asio::get_associated_executor(handler);
    auto waiting = std::make_shared<Waiting>(Waiting{std::move(handler), asio::make_work_guard(ex)});
    auto resume = [waiting](std::exception_ptr error, std::string id) {
      asio::post(asio::get_associated_executor(waiting->handler), [waiting, error, id = std::move(id)]() mutable {
        std::move(waiting->handler)(error, std::move(id));
        waiting->work.reset();
      });
    };
    auto spool = [this, &message, resume] {
      asio::post(server_.disk(), [this, &message, resume] {
        std::string id;
        try {
          id = server_.intake().spool(envelope_, message, queue_id_);
        } catch (...) {
          resume(std::current_exception(), {});
          return;
        }
        resume(nullptr, std::move(id));
      });
    };
    asio::post(server_.delivery(), [this, &message, resume, spool] {
      bool taken = false;
      try {
        taken = server_.intake().deliver_async(envelope_, message, queue_id_, [this, resume, spool](bool delivered) {
          if (delivered) resume(nullptr, queue_id_);
          else spool();
        });
      } catch (...) {  // before anything was taken (a pool thread must not end on it)
        resume(std::current_exception(), {});
        return;
      }
      if (!taken) spool();
    });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, std::string)>(
      initiate, asio::use_awaitable);
}

asio::awaitable<std::string> MessageSink::commit() {
  if (error_) throw store::IoError(error_, "spool write");
  std::string piece;
  piece.swap(pending_);
  held(0);
  if (!writer_ && !direct_) co_return co_await accept_in_memory(piece);
  auto id = co_await asio::co_spawn(
      server_.disk(),
      [&]() -> asio::awaitable<std::string> {
        if (direct_) {
          bool appended = false;
          try {
            direct_->append(piece);
            appended = true;
            direct_->commit();  // delivered and durable: no spool file, no listener to wake
            direct_.reset();
            co_return queue_id_;
          } catch (const store::IoError& e) {
            log::Event("direct_stream_failed").add("queue_id", queue_id_).add("error", e.what());
            // A failed fsync may have dropped the pages: what reading the
            // file back gives is not known to be the message. 451, no copy.
            if (e.code().value() == EIO) {
              direct_.reset();
              throw;
            }
            leave_direct();
            if (appended) piece.clear();
          } catch (const std::exception& e) {
            log::Event("direct_stream_failed").add("queue_id", queue_id_).add("error", e.what());
            leave_direct();
            if (appended) piece.clear();
          }
        }
        writer_->append(piece);
        std::string committed = writer_->commit();
        writer_.reset();
        server_.intake().accepted(committed);
        co_return committed;
      },
      asio::use_awaitable);
  co_return id;
}

}  // namespace postern::server
