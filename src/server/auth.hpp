// AUTH inside the server (RFC 4954, SPEC §4 [auth], §5).
//
// auth_mechanisms_for() gives the mechanisms the EHLO reply advertises on
// "250-AUTH ..." for this connection (empty: no AUTH line): the configured
// ones, none before TLS when require_tls, -PLUS only over TLS.
//
// handle_auth() runs the whole exchange for one AUTH command: 334
// challenges in base64 ("334 " alone for an empty one) written with
// Session::send(), each answer read with Session::read_line() (at most
// 12288 octets), then the final reply, which the session writes: 235,
// 535 (after a padded, jittered delay), 501 (cancel, bad base64), 500
// (line too long), 504, 538, 503, 454 (lockout, store unavailable) or 421
// after the max_failures_per_session-th failure (Session::close_after_reply).
// The SASL steps (store lookups, yescrypt) run on the server's blocking
// pool, never on the I/O thread. AUTH payloads are never logged.
//
// The state it keeps between commands (lockout, failure counts, the user
// database, the server secret) is the Server's AuthState (auth_state.hpp).
#pragma once

#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "smtp/command.hpp"
#include "smtp/reply.hpp"

namespace postern::server {

class Session;

std::vector<std::string> auth_mechanisms_for(const Session& session);

asio::awaitable<smtp::Reply> handle_auth(Session& session, const smtp::Command& command);

}  // namespace postern::server
