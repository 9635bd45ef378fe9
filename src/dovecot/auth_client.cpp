#include "dovecot/auth_client.hpp"

#include <unistd.h>

#include <array>
#include <variant>

#include <asio/experimental/as_tuple.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace postern::dovecot {

using namespace asio::experimental::awaitable_operators;
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
}

std::vector<MechanismInfo> MechanismCache::mechanisms(const std::string& socket) const {
  std::lock_guard lock(mutex_);
  if (socket != socket_) return {};
  return mechanisms_;
}

void MechanismCache::store(const std::string& socket, std::vector<MechanismInfo> mechanisms, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  socket_ = socket;
  mechanisms_ = std::move(mechanisms);
  fetched_ = now;
}

bool MechanismCache::claim_refresh(const std::string& socket, Clock::time_point now, Clock::duration max_age) {
  std::lock_guard lock(mutex_);
  if (socket == socket_ && fetched_ != Clock::time_point{} && now - fetched_ < max_age) return false;
  if (socket == claimed_socket_ && claimed_ != Clock::time_point{} && now - claimed_ < max_age) return false;
  claimed_ = now;
  claimed_socket_ = socket;
  return true;
}

std::vector<std::string> offered_mechanisms(const std::vector<MechanismInfo>& mechanisms, bool tls, bool clear_ok) {
  std::vector<std::string> out;
  for (const auto& m : mechanisms) {
    if (m.hidden || m.channel_binding) continue;
    if (m.plaintext && !tls && !clear_ok) continue;
    out.push_back(m.name);
  }
  return out;
}

struct AuthClient::Impl {
  Impl(asio::any_io_executor ex, ClientOptions o) : executor(ex), options(std::move(o)), socket(ex), timer(ex) {}
  asio::any_io_executor executor;
  ClientOptions options;
  asio::generic::stream_protocol::socket socket;
  asio::steady_timer timer;
  std::chrono::steady_clock::time_point deadline;
  AuthReader reader;
  std::array<char, 4096> buffer{};

  void start_clock() { deadline = std::chrono::steady_clock::now() + options.timeout; }

  // Connect under the deadline; an error text or "".
  asio::awaitable<std::string> connect() {
    timer.expires_at(deadline);
    if (!options.address.inet) {
      asio::local::stream_protocol::endpoint ep(options.address.path);
      auto r = co_await (socket.async_connect(asio::generic::stream_protocol::endpoint(ep), kTuple) ||
                         timer.async_wait(kTuple));
      if (r.index() == 1) co_return "timeout";
      auto [ec] = std::get<0>(r);
      co_return ec ? "unreachable: " + ec.message() : std::string();
    }
    asio::ip::tcp::resolver resolver(executor);
    auto rr = co_await (resolver.async_resolve(options.address.host, std::to_string(options.address.port), kTuple) ||
                        timer.async_wait(kTuple));
    if (rr.index() == 1) co_return "timeout";
    auto [rec, results] = std::get<0>(rr);
    if (rec) co_return "unreachable: " + rec.message();
    std::string last = "unreachable: no address";
    for (const auto& entry : results) {
      asio::error_code ignored;
      socket.close(ignored);
      auto r = co_await (socket.async_connect(asio::generic::stream_protocol::endpoint(entry.endpoint()), kTuple) ||
                         timer.async_wait(kTuple));
      if (r.index() == 1) co_return "timeout";
      auto [ec] = std::get<0>(r);
      if (!ec) co_return std::string();
      last = "unreachable: " + ec.message();
    }
    co_return last;
  }

  asio::awaitable<std::string> write(std::string text) {
    timer.expires_at(deadline);
    auto r = co_await (asio::async_write(socket, asio::buffer(text), kTuple) || timer.async_wait(kTuple));
    if (r.index() == 1) co_return "timeout";
    auto [ec, n] = std::get<0>(r);
    co_return ec ? "closed: " + ec.message() : std::string();
  }
};

AuthClient::AuthClient(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_unique<Impl>(executor, std::move(options))) {}

AuthClient::~AuthClient() {
  asio::error_code ignored;
  impl_->socket.close(ignored);
}

AuthClient::Step AuthClient::give_up(std::string why) {
  error_ = std::move(why);
  asio::error_code ignored;
  impl_->socket.close(ignored);
  return Step{Status::temporary, {}};
}

// The next event, reading under the current deadline; nullopt with error_ set.
asio::awaitable<std::optional<Event>> AuthClient::read_event() {
  auto& s = *impl_;
  for (;;) {
    if (auto e = s.reader.next()) {
      if (auto* p = std::get_if<ProtocolError>(&*e)) {
        error_ = "protocol: " + p->what;
        co_return std::nullopt;
      }
      co_return e;
    }
    s.timer.expires_at(s.deadline);
    auto r = co_await (s.socket.async_read_some(asio::buffer(s.buffer), kTuple) || s.timer.async_wait(kTuple));
    if (r.index() == 1) {
      error_ = "timeout";
      co_return std::nullopt;
    }
    auto [ec, n] = std::get<0>(r);
    if (ec) {
      error_ = ec == asio::error::eof ? std::string("closed") : "closed: " + ec.message();
      co_return std::nullopt;
    }
    s.reader.feed(std::string_view(s.buffer.data(), n));
  }
}

asio::awaitable<std::optional<std::vector<MechanismInfo>>> AuthClient::handshake(MechanismCache* cache,
                                                                                  const std::string& socket) {
  auto& s = *impl_;
  s.start_clock();
  if (auto err = co_await s.connect(); !err.empty()) {
    give_up(err);
    co_return std::nullopt;
  }
  if (auto err = co_await s.write(handshake_lines(static_cast<std::uint32_t>(::getpid()))); !err.empty()) {
    give_up(err);
    co_return std::nullopt;
  }
  auto e = co_await read_event();
  if (!e) {
    give_up(error_);
    co_return std::nullopt;
  }
  auto* done = std::get_if<HandshakeDone>(&*e);
  if (!done) {
    give_up("protocol: reply before the handshake ended");
    co_return std::nullopt;
  }
  if (cache) cache->store(socket, done->mechanisms, MechanismCache::Clock::now());
  co_return std::move(done->mechanisms);
}

asio::awaitable<AuthClient::Step> AuthClient::begin(AuthRequest request) {
  impl_->start_clock();
  id_ = request.id;
  if (auto err = co_await impl_->write(auth_line(request)); !err.empty()) co_return give_up(err);
  co_return co_await reply();
}

asio::awaitable<AuthClient::Step> AuthClient::respond(std::string_view bytes) {
  if (final_pending_) {
    // SMTP has no "additional data with success" (RFC 4954 §4): Dovecot's
    // final data went out as a challenge; an empty answer completes it.
    final_pending_ = false;
    asio::error_code ignored;
    impl_->socket.close(ignored);
    if (!bytes.empty()) {
      error_ = "malformed";
      co_return Step{Status::failed, {}};
    }
    co_return Step{Status::done, {}};
  }
  impl_->start_clock();
  if (auto err = co_await impl_->write(cont_line(id_, bytes)); !err.empty()) co_return give_up(err);
  co_return co_await reply();
}

asio::awaitable<AuthClient::Step> AuthClient::reply() {
  for (;;) {
    auto e = co_await read_event();
    if (!e) co_return give_up(error_);
    if (auto* c = std::get_if<Continue>(&*e)) {
      if (c->id != id_) continue;  // not ours: skip, as for an unknown line
      co_return Step{Status::more, std::move(c->challenge)};
    }
    if (auto* ok = std::get_if<Success>(&*e)) {
      if (ok->id != id_) continue;
      if (ok->nologin) {
        error_ = "nologin";
        failed_user_ = ok->user;
        co_return Step{Status::failed, {}};
      }
      if (ok->user.empty()) co_return give_up("protocol: OK without user");
      user_ = std::move(ok->user);
      if (ok->final_data) {
        final_pending_ = true;
        co_return Step{Status::more, std::move(*ok->final_data)};
      }
      asio::error_code ignored;
      impl_->socket.close(ignored);
      co_return Step{Status::done, {}};
    }
    if (auto* f = std::get_if<Failure>(&*e)) {
      if (f->id != id_) continue;
      failed_user_ = std::move(f->user);
      if (f->temporary) co_return give_up("temporary" + (f->code.empty() ? std::string() : " code=" + f->code));
      error_ = f->code.empty() ? std::string("bad-credentials") : f->code;
      asio::error_code ignored;
      impl_->socket.close(ignored);
      co_return Step{Status::failed, {}};
    }
    co_return give_up("protocol: a second handshake");
  }
}

}  // namespace postern::dovecot
