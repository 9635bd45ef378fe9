// A blocking SMTP connection for the probe: one TCP connection with a
// deadline per read, an optional TLS layer (OpenSSL) that records rather
// than enforces the certificate check, and replies read with the project's
// reply grammar (smtp::ReplyParser). The probe needs what a delivering
// client must not do: write raw octets (STARTTLS and NOOP in one write,
// CVE-2011-0411) and keep going after a certificate fails.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probe/report.hpp"
#include "smtp/reply.hpp"

namespace postern::probe {

class Connection {
 public:
  Connection();
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Tries `addresses` in order; on failure *error says why and *temporary
  // whether trying later may help. `address` gets the one used.
  bool open(const std::vector<std::string>& addresses, std::uint16_t port, std::chrono::seconds timeout,
            std::string& address, std::string& error, bool& temporary);
  bool write(std::string_view octets);
  // One whole reply, nullopt on a timeout, a closed connection or a malformed reply (see error()).
  std::optional<smtp::Reply> read_reply();
  // Sends `line` + CRLF and reads the reply.
  std::optional<smtp::Reply> command(std::string_view line);
  // Octets received and not yet part of a reply.
  bool buffered() const { return !buffer_.empty(); }
  // TLS handshake with SNI `name`; verification of the chain (system
  // store, SSL_CERT_FILE) and of `name` is recorded in `out`, not enforced.
  bool start_tls(const std::string& name, TlsResult& out);
  const std::string& error() const { return error_; }
  void close();

 private:
  long receive(char* data, std::size_t size);

  int fd_ = -1;
  struct Tls;
  std::unique_ptr<Tls> tls_;
  std::string buffer_;
  std::string error_;
};

}  // namespace postern::probe
