// One SMTP connection, either side: plain TCP that may become TLS
// (STARTTLS, RFC 3207) or TLS from the start (implicit, RFC 8314). Reads
// and writes go through whichever layer is active; cancel() and close()
// act on the socket underneath (timeouts, shutdown). The server's session
// and the client's session both use it. Not thread-safe: used by one
// session on one I/O thread.
#pragma once

#include <memory>
#include <optional>
#include <tuple>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>

namespace postern::net {

class Stream {
 public:
  explicit Stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

  asio::awaitable<std::tuple<asio::error_code, std::size_t>> read_some(asio::mutable_buffer buffer);
  asio::awaitable<asio::error_code> write(asio::const_buffer buffer);
  // Waits until the plain socket has something to read (or is closed), so
  // an idle connection holds no read buffer. Under TLS it returns at once
  // (OpenSSL may already hold decrypted bytes).
  asio::awaitable<asio::error_code> wait_readable();
  // Moves the socket under TLS; returns the connection so a client can set
  // SNI and the name to verify before it hand-shakes.
  SSL* begin_tls(std::shared_ptr<asio::ssl::context> context);
  asio::awaitable<asio::error_code> handshake(asio::ssl::stream_base::handshake_type role);
  // Both at once, as a server does.
  asio::awaitable<asio::error_code> handshake(std::shared_ptr<asio::ssl::context> context);

  bool tls() const { return tls_.has_value(); }
  SSL* tls_handle() { return tls_ ? tls_->native_handle() : nullptr; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384", "" without TLS.
  std::string tls_description() const;

  asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : socket_; }
  void cancel();
  void close();

 private:
  asio::ip::tcp::socket socket_;
  std::shared_ptr<asio::ssl::context> context_;  // keeps the context alive across SIGHUP swaps
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
};

}  // namespace postern::net
