#include "testbed/pop3_server.hpp"

#include <asio/co_spawn.hpp>
#include <optional>
#include <type_traits>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "log/log.hpp"
#include "net/deadline.hpp"
#include "net/stream.hpp"
#include "pop3/dialogue.hpp"
#include "sasl/base64.hpp"
#include "sasl/secrets.hpp"
#include "server/auth.hpp"
#include "server/server.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

namespace postern::testbed {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk_octets = 4096;
// After the idle deadline, how long the client gets to take our -ERR.
constexpr auto goodbye_grace = std::chrono::seconds(5);

// Exceptions escaping a coroutine are bugs: logged, never dropped.
auto log_exception(std::string where) {
  return [where = std::move(where)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::Event("internal_error").add("where", where).add("error", ex.what());
    }
  };
}

std::string peer_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

}  // namespace

class Pop3Session final : public server::AuthPeer, public std::enable_shared_from_this<Pop3Session> {
 public:
  Pop3Session(std::shared_ptr<Pop3Server> owner, asio::ip::tcp::socket socket)
      : owner_(std::move(owner)),
        config_(owner_->server_.config()),
        stream_(std::move(socket)),
        dialogue_(settings()),
        deadline_(stream_.socket().get_executor(), [this] { expired(); }) {
    info_.id = util::random_hex(6);
    asio::error_code ec;
    auto remote = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      info_.peer_address = peer_text(remote.address());
      info_.peer_port = remote.port();
    }
    info_.local_address = owner_->listener_.address;
    info_.config = config_.get();
  }

  asio::awaitable<void> run();
  void stop() {
    stop_requested_ = true;
    stream_.cancel();
  }

  // ---- server::AuthPeer ----
  const admission::SessionInfo& info() const override { return info_; }
  const config::Config& config() const override { return *config_; }
  server::Server& server() override { return owner_->server_; }
  SSL* tls_handle() override { return stream_.tls_handle(); }
  unsigned count_auth_failure() override { return ++auth_failures_; }
  asio::any_io_executor executor() override { return stream_.socket().get_executor(); }
  bool stopping() const override { return stop_requested_ || timed_out_; }

 private:
  pop3::DialogueSettings settings() const {
    pop3::DialogueSettings s;
    s.hostname = config_->hostname;
    s.stls_offered = owner_->listener_.tls == config::TlsMode::starttls;
    s.max_errors = config_->limits.max_errors;
    return s;
  }
  void expired() {
    if (!timed_out_) {
      timed_out_ = true;
      deadline_.arm(goodbye_grace);
      stream_.cancel();
    } else {
      stream_.close();
    }
  }
  void drain() {
    for (auto& r : dialogue_.replies()) out_ += r.wire();
    dialogue_.replies().clear();
  }
  asio::awaitable<bool> flush() {
    drain();
    if (out_.empty()) co_return true;
    std::string pending;
    pending.swap(out_);
    auto ec = co_await stream_.write(asio::buffer(pending));
    co_return !ec;
  }
  asio::awaitable<bool> fill() {
    if (timed_out_ || stop_requested_) co_return false;
    if (!dialogue_.has_buffered() && !stream_.tls()) {
      dialogue_.release_if_empty();
      const auto waited = co_await stream_.wait_readable();
      if (waited) co_return false;
      if (timed_out_ || stop_requested_) co_return false;
    }
    auto room = dialogue_.prepare(read_chunk_octets);
    auto [ec, n] = co_await stream_.read_some(asio::buffer(room.data(), room.size()));
    dialogue_.commit(n);
    co_return !ec;
  }
  // One read under the idle deadline; false: the session is over.
  // Every co_await result goes into a local before it is tested: GCC 12
  // built the first form of these member coroutines (`if (!co_await f())`,
  // `over = !co_await f()`) into an illegal instruction (SIGILL on resume).
  asio::awaitable<bool> read_more() {
    const bool written = co_await flush();
    if (!written) co_return false;
    deadline_.arm(config_->limits.command_timeout);
    const bool filled = co_await fill();
    if (filled) co_return true;
    if (timed_out_) {
      log::Event("pop3_timeout").add("session", info_.id).add("client", info_.peer_address);
      dialogue_.timed_out();
      co_return true;  // the dialogue closes after its -ERR
    }
    if (stop_requested_) {
      dialogue_.shutting_down();
      co_return true;
    }
    co_return false;
  }
  asio::awaitable<bool> starttls(std::size_t discarded) {
    const bool written = co_await flush();
    if (!written) co_return false;
    if (discarded > 0)
      log::Event("pop3_stls_pipelined").add("session", info_.id).add("discarded", static_cast<long long>(discarded));
    const auto ec = co_await stream_.handshake(server().tls_context());
    if (ec) {
      log::Event("tls_failed").add("session", info_.id).add("client", info_.peer_address).add("error", ec.message());
      co_return false;
    }
    info_.tls = true;
    dialogue_.tls_started();
    dialogue_.set_mechanisms(server::auth_mechanisms_for(*this));
    co_return true;
  }
  // Runs f() on the server's blocking pool and resumes here with its
  // result: what reads the maildrop touches the disk, and this thread also
  // accepts and serves SMTP.
  template <class F>
  asio::awaitable<std::invoke_result_t<F&>> off_thread(F f) {
    using R = std::invoke_result_t<F&>;
    co_return co_await asio::co_spawn(
        owner_->server_.blocking(), [&]() -> asio::awaitable<R> { co_return f(); }, asio::use_awaitable);
  }
  // Opens the login's maildrop (its list, off the I/O thread: the sizes may read every message).
  asio::awaitable<void> log_in(std::string identity) {
    log::Event("pop3_login").add("session", info_.id).add("client", info_.peer_address).add("user", util::printable(identity, 100));
    info_.auth_identity = identity;
    auto maildrop = owner_->maildrops_(identity);
    const bool opened = co_await off_thread([&] {
      dialogue_.logged_in(std::move(identity), std::move(maildrop));
      return true;
    });
    (void)opened;
  }
  // The next event; in TRANSACTION off the I/O thread, since it may read
  // (RETR, TOP) or remove (QUIT) messages.
  asio::awaitable<pop3::Event> next_event() {
    if (dialogue_.phase() != pop3::Dialogue::Phase::transaction) co_return dialogue_.next();
    auto e = co_await off_thread([this] { return dialogue_.next(); });
    co_return e;
  }
  // The outcome of a SASL step, for a login by USER/PASS (`by_pass`) or
  // AUTH: the identity when it logged in (then log_in()).
  std::optional<std::string> answer(server::AuthExchange::Step step, bool by_pass) {
    if (step.challenge) {
      if (by_pass) {  // PLAIN with its response has nothing more to ask
        auth_.reset();
        dialogue_.login_failed(pop3::Reply::err("Authentication credentials invalid", "AUTH"));
      } else {
        dialogue_.challenge(*step.challenge);
      }
      sasl::wipe(*step.challenge);
      return std::nullopt;
    }
    auth_.reset();
    if (step.drop) {  // a rule's drop: close, no reply
      dialogue_.drop();
      return std::nullopt;
    }
    if (step.identity.empty()) {
      dialogue_.login_failed(pop3::from_smtp(step.reply), step.close);
      return std::nullopt;
    }
    return std::move(step.identity);
  }
  asio::awaitable<void> act(pop3::Event& e, bool& over);

  std::shared_ptr<Pop3Server> owner_;
  std::shared_ptr<const config::Config> config_;
  net::Stream stream_;
  admission::SessionInfo info_;
  pop3::Dialogue dialogue_;
  std::unique_ptr<server::AuthExchange> auth_;
  net::Deadline deadline_;
  std::string out_;
  unsigned auth_failures_ = 0;
  bool timed_out_ = false;
  bool stop_requested_ = false;
};

asio::awaitable<void> Pop3Session::act(pop3::Event& e, bool& over) {
  using Kind = pop3::Event::Kind;
  switch (e.kind) {
    case Kind::need_input: {
      const bool more = co_await read_more();
      over = !more;
      break;
    }
    case Kind::flush: {
      const bool written = co_await flush();
      over = !written;
      break;
    }
    case Kind::close:
      co_await flush();
      over = true;
      break;
    case Kind::bad_command:
      log::Event("pop3_bad_command")
          .add("session", info_.id)
          .add("verb", e.text.empty() ? std::string("(not a verb; not logged)") : e.text)
          .add("octets", static_cast<long long>(e.size));
      break;
    case Kind::stls: {
      const bool started = co_await starttls(e.size);
      over = !started;
      break;
    }
    case Kind::login: {
      std::string response = std::string(1, '\0') + e.user + '\0' + e.text;
      std::string argument = "PLAIN " + sasl::base64_encode(response);
      sasl::wipe(response);
      sasl::wipe(e.text);
      log::Event("pop3_auth_start").add("session", info_.id).add("client", info_.peer_address).add("mechanism", "USER/PASS");
      auto step = co_await server::AuthExchange::start(*this, argument, auth_);
      sasl::wipe(argument);
      auto identity = answer(std::move(step), true);
      if (identity) co_await log_in(std::move(*identity));
      break;
    }
    case Kind::auth: {
      const auto name = e.text.substr(0, e.text.find(' '));
      log::Event("pop3_auth_start")
          .add("session", info_.id)
          .add("client", info_.peer_address)
          .add("mechanism", util::printable(name, 20));
      auto step = co_await server::AuthExchange::start(*this, e.text, auth_);
      sasl::wipe(e.text);
      auto identity = answer(std::move(step), false);
      if (identity) co_await log_in(std::move(*identity));
      break;
    }
    case Kind::auth_response: {
      if (!auth_) {
        dialogue_.login_failed(pop3::Reply::err("Authentication failed", "AUTH"));
        break;
      }
      auto step = co_await auth_->respond(*this, std::move(e.text));
      auto identity = answer(std::move(step), false);
      if (identity) co_await log_in(std::move(*identity));
      break;
    }
  }
}

asio::awaitable<void> Pop3Session::run() {
  struct Finish {
    Pop3Session* s;
    ~Finish() { s->deadline_.disarm(); }
  } finish{this};
  deadline_.arm(config_->limits.command_timeout);
  log::Event("pop3_connect").add("session", info_.id).add("client", info_.peer_address).add("port", info_.peer_port);
  dialogue_.set_mechanisms(server::auth_mechanisms_for(*this));
  dialogue_.greet();
  bool over = false;
  while (!over) {
    if (stop_requested_ && !dialogue_.deciding() && dialogue_.phase() != pop3::Dialogue::Phase::closed)
      dialogue_.shutting_down();
    auto e = co_await next_event();
    co_await act(e, over);
  }
  stream_.close();
  log::Event("pop3_disconnect")
      .add("session", info_.id)
      .add("client", info_.peer_address)
      .add("end", timed_out_ ? "timeout" : stop_requested_ ? "shutdown" : dialogue_.quit() ? "quit" : "closed")
      .add("removed", static_cast<long long>(dialogue_.removed()));
}

Pop3Server::Pop3Server(server::Server& server, config::Listener listener, std::size_t max_sessions, Maildrops maildrops)
    : server_(server),
      listener_(std::move(listener)),
      max_sessions_(max_sessions),
      maildrops_(std::move(maildrops)),
      acceptor_(server.main_context()) {}

Pop3Server::~Pop3Server() = default;

void Pop3Server::bind() {
  asio::error_code ec;
  auto address = asio::ip::make_address(listener_.host, ec);
  if (ec) throw server::StartError(78, "--pop3 " + listener_.address + ": not an IP address");
  asio::ip::tcp::endpoint endpoint(address, listener_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec && address.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw server::StartError(69, "cannot listen on " + listener_.address + ": " + ec.message());
}

std::uint16_t Pop3Server::port() const {
  asio::error_code ec;
  auto endpoint = acceptor_.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void Pop3Server::start() {
  log::Event("pop3_listen")
      .add("address", (listener_.host.find(':') != std::string::npos ? "[" + listener_.host + "]" : listener_.host) + ":" +
                          std::to_string(port()))
      .add("tls", listener_.tls == config::TlsMode::starttls ? "stls" : "none");
  asio::co_spawn(
      acceptor_.get_executor(),
      [self = shared_from_this()]() -> asio::awaitable<void> {
        for (;;) {
          auto [ec, socket] = co_await self->acceptor_.async_accept(use_tuple);
          if (ec) {
            if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) co_return;
            log::Event("accept_failed").add("listener", self->listener_.address).add("error", ec.message());
            asio::steady_timer pause(self->acceptor_.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
          }
          if (self->sessions_.size() >= self->max_sessions_) {
            log::Event("connection_refused").add("listener", self->listener_.address).add("reason", "too many POP3 sessions");
            asio::co_spawn(
                self->acceptor_.get_executor(),
                [s = std::move(socket)]() mutable -> asio::awaitable<void> {
                  static const std::string bye = "-ERR [SYS/TEMP] Too many POP3 sessions, try again later\r\n";
                  co_await asio::async_write(s, asio::buffer(bye), use_tuple);
                  asio::error_code ignored;
                  s.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                },
                log_exception("pop3 refuse"));
            continue;
          }
          auto session = std::make_shared<Pop3Session>(self, std::move(socket));
          self->sessions_.emplace(session.get(), session);
          asio::co_spawn(self->acceptor_.get_executor(), session->run(), [self, session](std::exception_ptr e) {
            log_exception("pop3 session " + session->info().id)(e);
            self->ended(session.get());
          });
        }
      },
      log_exception("pop3 accept"));
}

void Pop3Server::ended(Pop3Session* session) { sessions_.erase(session); }

void Pop3Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  for (auto& [ptr, weak] : sessions_)
    if (auto s = weak.lock()) s->stop();
}

}  // namespace postern::testbed
