// The testbed's POP3 listener (SPEC §10 "POP3"): the I/O around
// pop3::Dialogue (pop3/dialogue.hpp), which owns the protocol. Each
// session is one coroutine on the server's first I/O context: read →
// feed → act → write, as the SMTP session (server/session.cpp) does.
// Once logged in, the dialogue (which reads and removes messages) runs on
// the server's blocking pool, so a large RETR or a login to a full inbox
// never holds up the SMTP sessions and the acceptors of that context.
//
// Login: USER/PASS runs as AUTH PLAIN, and AUTH as itself, through the
// SMTP server's AuthExchange (server/auth.hpp): the same mechanisms
// (SCRAM and -PLUS included, OAuth), the same credentials (the testbed's
// Admission: any password with no [testbed] users, fail@ and tempfail@,
// rules with command AUTH), the same lockout and padded failures. STLS
// hand-shakes with the testbed's certificate.
//
// Bounds: at most max_sessions at once (the next client gets
// "-ERR [SYS/TEMP]" and is closed); every read under the idle deadline
// ([limits] command_timeout; RFC 1939 §3 asks for at least 10 minutes,
// a test server may take less); [limits] max_errors bad lines; the
// dialogue's line limits. SIGTERM closes every session at once without
// entering UPDATE.
#pragma once

#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "pop3/maildrop.hpp"

namespace postern::server {
class Server;
}

namespace postern::testbed {

class Pop3Session;

class Pop3Server : public std::enable_shared_from_this<Pop3Server> {
 public:
  // The maildrop of a login (its identity).
  using Maildrops = std::function<std::unique_ptr<pop3::Maildrop>(const std::string& identity)>;

  Pop3Server(server::Server& server, config::Listener listener, std::size_t max_sessions, Maildrops maildrops);
  ~Pop3Server();

  // Binds the listener (before Server::bind() drops privileges); throws server::StartError.
  void bind();
  std::uint16_t port() const;
  // Starts accepting (on the server's first I/O context, from run()'s start hook).
  void start();
  // Stops accepting and closes every session (on that context: Server::on_stop).
  void stop();

 private:
  friend class Pop3Session;
  void ended(Pop3Session* session);

  server::Server& server_;
  config::Listener listener_;
  std::size_t max_sessions_;
  Maildrops maildrops_;
  asio::ip::tcp::acceptor acceptor_;
  std::unordered_map<Pop3Session*, std::weak_ptr<Pop3Session>> sessions_;  // on the context's thread only
  bool stopped_ = false;
};

}  // namespace postern::testbed
