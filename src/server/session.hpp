// One SMTP conversation (RFC 5321 §4.1, §4.3.2 sequencing), run as one
// coroutine on one I/O thread. The session owns the stream, the line
// reader, the session state (SessionInfo) and the open transaction; the
// command handlers return Replies and only the session writes them.
//
// Pipelining (RFC 2920): replies are held while more input is buffered
// and written before the next read from the socket.
// Timeouts: a deadline per command (command_timeout) and per DATA read
// (data_timeout), enforced by a watchdog coroutine joined with the
// dialogue; on expiry the client gets 421 4.4.2 and is closed.
//
// The public part below is what AUTH (server/auth.cpp) uses to run a
// SASL exchange inside the session.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "server/connection_limits.hpp"
#include "server/session_info.hpp"
#include "server/stream.hpp"
#include "smtp/command.hpp"
#include "smtp/data_decoder.hpp"
#include "smtp/line_reader.hpp"
#include "smtp/sequence.hpp"
#include "smtp/reply.hpp"
#include "server/hooks.hpp"

namespace postern::server {

class Server;
class MessageSink;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, asio::ip::tcp::socket socket, std::shared_ptr<const config::Config> config,
          const config::Listener& listener);
  ~Session();

  // The whole conversation; returns when the connection is closed.
  asio::awaitable<void> run();

  // Server shutdown: idle sessions get 421 at once, a transaction may
  // finish; `force` closes every state with 421. Call on the session's executor.
  void request_stop(bool force);
  // Keeps the connection slot for the session's lifetime.
  void hold(ConnectionLimits::Ticket ticket) { ticket_.emplace(std::move(ticket)); }
  asio::any_io_executor executor() { return stream_.socket().get_executor(); }

  // ---- For AUTH (server/auth.cpp) ----
  struct Line {
    enum class Status { line, too_long, closed } status;
    std::string text;  // without CRLF
  };
  // Writes pending replies, then reads one line of at most max_octets
  // (counting CRLF), under the command timeout.
  asio::awaitable<Line> read_line(std::size_t max_octets);
  // Queues a reply and writes everything pending now. False if the connection broke.
  asio::awaitable<bool> send(const smtp::Reply& reply);
  const SessionInfo& info() const { return info_; }
  const config::Config& config() const { return *config_; }
  Server& server() { return server_; }
  bool in_transaction() const { return transaction_.has_value(); }
  // What the command table (smtp/sequence.hpp) judges a command by.
  smtp::DialogueState dialogue_state() const;
  // The TLS connection (channel binding for SCRAM-PLUS); nullptr without TLS.
  SSL* tls_handle() { return stream_.tls_handle(); }
  // Marks the session authenticated as `identity` (after 235).
  void set_authenticated(std::string identity);
  // Closes the connection after the reply being returned (e.g. 421 4.7.0
  // after too many AUTH failures).
  void close_after_reply() { closing_ = true; }

 private:
  enum class Next { go_on, close };

  asio::awaitable<void> dialogue();
  asio::awaitable<void> watchdog();
  asio::awaitable<bool> flush();
  asio::awaitable<bool> fill();  // one read from the socket into reader_
  void arm(std::chrono::steady_clock::duration timeout);

  asio::awaitable<Next> handle(smtp::Command& command);
  smtp::Reply ehlo(const smtp::Command& command);
  smtp::Reply helo(const smtp::Command& command);
  // `checked`: an Admission already accepted it; the usual checks are skipped.
  smtp::Reply mail(smtp::Command& command, bool checked = false);
  smtp::Reply rcpt(smtp::Command& command, bool checked = false);
  // Asks the server's Admission (hooks.hpp), if any, and waits its delay.
  asio::awaitable<std::optional<Verdict>> decide(Stage stage, std::string_view argument);
  // Carries out a verdict other than `accept`: the reply, or the close.
  Next act(const Verdict& verdict);
  using BodyCheck = smtp::BareLineEndScanner;
  asio::awaitable<Next> data();
  asio::awaitable<Next> bdat(const smtp::Command& command);
  asio::awaitable<Next> starttls();
  std::unique_ptr<MessageSink> open_body();
  template <typename Decoder>
  asio::awaitable<bool> read_body(Decoder& decoder, MessageSink* sink, BodyCheck* check);
  asio::awaitable<smtp::Reply> finish_message(MessageSink& sink);
  // Queues a reply: counts 5xx toward max_errors, turns 421 into a close,
  // logs it under `event` (by default only 4xx/5xx, as "reject"; {} = never).
  void reply(smtp::Reply reply, std::string_view event = "reject");
  // Every reply goes out through here (the observer sees it).
  void queue_out(const smtp::Reply& reply);
  void reset_transaction();

  Server& server_;
  std::shared_ptr<const config::Config> config_;
  config::Listener listener_;
  Stream stream_;
  smtp::LineReader reader_;
  SessionInfo info_;
  std::optional<TransactionInfo> transaction_;
  // The transaction's body while it comes in BDAT chunks.
  struct Body {
    std::unique_ptr<MessageSink> sink;
    BodyCheck line_ends;
  };
  std::unique_ptr<Body> body_;
  std::optional<ConnectionLimits::Ticket> ticket_;
  std::string out_;  // replies not yet written
  unsigned errors_ = 0;
  unsigned messages_ = 0;
  bool closing_ = false;
  bool quit_ = false;
  std::string cause_;  // of the next reply, when an Admission chose it (hooks.hpp)

  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
  bool finished_ = false;
  bool timed_out_ = false;
  bool stop_requested_ = false;
  bool force_stop_ = false;
  bool waiting_for_command_ = false;
};

}  // namespace postern::server
