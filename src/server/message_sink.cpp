#include "server/message_sink.hpp"

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <cerrno>

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
        server_.blocking(),
        [&]() -> asio::awaitable<void> {
          if (!writer_) writer_ = server_.intake().open(envelope_, queue_id_);
          writer_->append(piece);
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

asio::awaitable<void> MessageSink::prepend(std::string header) {
  if (error_ || header.empty()) co_return;
  if (!writer_) {
    pending_.insert(0, header);
    held(pending_.size());
    co_return;
  }
  try {
    co_await asio::co_spawn(
        server_.blocking(),
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

asio::awaitable<std::string> MessageSink::commit() {
  if (error_) throw store::IoError(error_, "spool write");
  std::string piece;
  piece.swap(pending_);
  held(0);
  auto id = co_await asio::co_spawn(
      server_.blocking(),
      [&]() -> asio::awaitable<std::string> {
        // All of it in memory: one trip (local mailboxes first, else the spool).
        if (!writer_) co_return server_.intake().accept(envelope_, piece, queue_id_);
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
