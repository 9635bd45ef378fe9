// One SMTP conversation, run as one coroutine on one I/O thread: the I/O
// around smtp::ServerDialogue (smtp/dialogue.hpp), which owns the
// protocol. The loop is read → feed → act → write: bytes from the stream
// go into the dialogue; each event it returns is acted on (a check, a
// SASL step, a TLS handshake, message octets into the spool); the replies
// it queues are logged, observed and written.
//
// Pipelining (RFC 2920): replies are held while more input is buffered
// and written before the next read from the socket, or at once when the
// dialogue says the client waits for them.
// Timeouts: a deadline per command (command_timeout) and per DATA read
// (data_timeout), one net::Deadline; on expiry the pending read is
// cancelled, the client gets 421 4.4.2 and is closed.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "server/auth.hpp"
#include "server/connection_limits.hpp"
#include "server/inbound_stage.hpp"
#include "admission/session_info.hpp"
#include "net/deadline.hpp"
#include "net/stream.hpp"
#include "smtp/dialogue.hpp"
#include "smtp/reply.hpp"
#include "server/hooks.hpp"

namespace postern::server {

class Server;
class MessageSink;
class MilterStage;
struct MilterRefusal;

class Session final : public AuthPeer, public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, asio::ip::tcp::socket socket, std::shared_ptr<const config::Config> config,
          const config::Listener& listener, const asio::ip::tcp::endpoint& remote);
  ~Session();

  // The whole conversation; returns when the connection is closed.
  asio::awaitable<void> run();

  // Server shutdown: idle sessions get 421 at once, a transaction may
  // finish; `force` closes every state with 421. Call on the session's executor.
  void request_stop(bool force);
  // Keeps the connection slot for the session's lifetime.
  void hold(ConnectionLimits::Ticket ticket) { ticket_.emplace(std::move(ticket)); }
  asio::any_io_executor executor() override { return stream_.socket().get_executor(); }
  bool stopping() const override { return force_stop_ || timed_out_; }

  // ---- For AUTH (server/auth.cpp) ----
  const admission::SessionInfo& info() const override { return info_; }
  const config::Config& config() const override { return *config_; }
  Server& server() override { return server_; }
  SSL* tls_handle() override { return stream_.tls_handle(); }
  unsigned count_auth_failure() override { return ++auth_failures_; }

 private:
  enum class Next { go_on, close };

  asio::awaitable<void> dialogue();
  void expired();  // the deadline passed
  asio::awaitable<bool> flush();
  asio::awaitable<bool> fill();  // one read from the socket into the dialogue
  void arm(std::chrono::steady_clock::duration timeout);

  // What the session does for each event of the dialogue.
  asio::awaitable<Next> act(smtp::Event& event);
  asio::awaitable<Next> read_more();
  asio::awaitable<Next> hello(const smtp::Command& command);
  asio::awaitable<Next> mail(const smtp::Command& command);
  asio::awaitable<Next> rcpt(const smtp::Command& command);
  asio::awaitable<Next> data();
  asio::awaitable<Next> message_end();
  asio::awaitable<Next> starttls(std::uint64_t discarded);
  asio::awaitable<Next> auth(std::string_view argument);
  asio::awaitable<Next> auth_response(std::string bytes);
  Next auth_step(AuthExchange::Step step);
  // Asks the server's Admission (hooks.hpp), if any, and waits its delay.
  asio::awaitable<std::optional<Verdict>> decide(Stage stage, std::string_view argument);
  // Carries out a verdict other than `accept`: the reply, or the close.
  Next enforce(const Verdict& verdict);
  // A milter's refusal of the current command (server/milter_stage.cpp).
  Next refuse_for_milter(const MilterRefusal& refusal);
  asio::awaitable<std::optional<smtp::Reply>> milters_end_of_message();
  // The replies the dialogue queued: logged, observed, counted, buffered for writing.
  void drain();
  void queue_out(const smtp::Reply& reply, std::string_view cause);

  Server& server_;
  std::shared_ptr<const config::Config> config_;
  config::Listener listener_;
  net::Stream stream_;
  admission::SessionInfo info_;
  smtp::ServerDialogue dialogue_;
  std::unique_ptr<MessageSink> sink_;      // the message coming in
  InboundStage inbound_;                   // [inbound] checks (mx listeners)
  std::unique_ptr<AuthExchange> auth_;     // the SASL exchange under way
  std::unique_ptr<MilterStage> milters_;   // the [[milter]] filters of this listener's role, if any
  std::string auth_mechanism_;             // of the AUTH under way, for the milters' {auth_type}
  std::optional<ConnectionLimits::Ticket> ticket_;
  std::string out_;  // replies not yet written
  unsigned messages_ = 0;  // accepted (250) in this session
  unsigned auth_failures_ = 0;
  std::optional<smtp::ServerDialogue::Phase> armed_for_;  // the phase the deadline was set for

  net::Deadline deadline_;
  bool timed_out_ = false;
  // DATA under an Admission's throttle: octets a second, read since when.
  std::uint64_t throttle_ = 0;
  std::uint64_t throttle_read_ = 0;
  std::chrono::steady_clock::time_point throttle_since_{};
  bool in_body() const;
  asio::awaitable<bool> wait_for_throttle();
  bool stop_requested_ = false;
  bool force_stop_ = false;
  bool waiting_for_command_ = false;
};

}  // namespace postern::server
