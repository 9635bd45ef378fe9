#include "net/stream.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace postern::net {

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
}

asio::awaitable<std::tuple<asio::error_code, std::size_t>> Stream::read_some(asio::mutable_buffer buffer) {
  if (tls_) co_return co_await tls_->async_read_some(buffer, use_tuple);
  co_return co_await socket_.async_read_some(buffer, use_tuple);
}

asio::awaitable<asio::error_code> Stream::wait_readable() {
  if (tls_) co_return asio::error_code{};
  auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
  co_return ec;
}

asio::awaitable<asio::error_code> Stream::write(asio::const_buffer buffer) {
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, buffer, use_tuple);
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_write(socket_, buffer, use_tuple);
  co_return ec;
}

SSL* Stream::begin_tls(std::shared_ptr<asio::ssl::context> context) {
  context_ = std::move(context);
  tls_.emplace(std::move(socket_), *context_);
  return tls_->native_handle();
}

asio::awaitable<asio::error_code> Stream::handshake(asio::ssl::stream_base::handshake_type role) {
  auto [ec] = co_await tls_->async_handshake(role, use_tuple);
  co_return ec;
}

asio::awaitable<asio::error_code> Stream::handshake(std::shared_ptr<asio::ssl::context> context) {
  begin_tls(std::move(context));
  co_return co_await handshake(asio::ssl::stream_base::server);
}

std::string Stream::tls_description() const {
  if (!tls_) return {};
  SSL* ssl = const_cast<asio::ssl::stream<asio::ip::tcp::socket>&>(*tls_).native_handle();
  std::string out = SSL_get_version(ssl);
  if (const char* cipher = SSL_get_cipher_name(ssl)) out += std::string(" ") + cipher;
  return out;
}

void Stream::cancel() {
  asio::error_code ec;
  socket().cancel(ec);
}

void Stream::close() {
  asio::error_code ec;
  socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket().close(ec);
}

}  // namespace postern::net
