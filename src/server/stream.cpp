#include "server/stream.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace postern::server {

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

asio::awaitable<asio::error_code> Stream::handshake(std::shared_ptr<asio::ssl::context> context) {
  context_ = std::move(context);
  tls_.emplace(std::move(socket_), *context_);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_tuple);
  co_return ec;
}

std::string Stream::tls_description() {
  if (!tls_) return {};
  SSL* ssl = tls_->native_handle();
  return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
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

}  // namespace postern::server
