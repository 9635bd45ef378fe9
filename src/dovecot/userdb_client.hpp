// One USER lookup on Dovecot's auth-userdb socket (userdb_protocol.hpp)
// over a unix or TCP socket with Asio: connect, ask, read the answer, all
// under one deadline (ClientOptions::timeout), never blocking the thread.
#pragma once

#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "dovecot/auth_client.hpp"

namespace postern::dovecot {

struct UserLookup {
  enum class Kind {
    found,        // Dovecot's userdb has the user
    not_found,    // NOTFOUND
    failed,       // FAIL: Dovecot's own temporary trouble
    unreachable,  // no connection, the deadline passed, or a broken reply
  };
  Kind kind = Kind::unreachable;
  std::string detail;  // the canonical user, FAIL's reason, or what went wrong
};

asio::awaitable<UserLookup> lookup_user(asio::any_io_executor executor, ClientOptions options, std::string user);

}  // namespace postern::dovecot
