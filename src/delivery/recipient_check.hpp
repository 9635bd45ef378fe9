// The RCPT-time question to the server that keeps the mailboxes (SPEC
// §12), for a recipient in a local domain that every check of Postern's
// own has accepted: with [auth] dovecot_userdb, a USER lookup on
// Dovecot's auth-userdb socket (cheap; it knows users, not quotas);
// otherwise, with an LMTP transport, the LMTP server itself (MAIL, RCPT,
// RSET: users and quota; lmtp.hpp). nullopt: take the recipient.
//
//   userdb: found → take it; NOTFOUND → 550 5.1.1 No such user;
//           FAIL → 451 4.3.0; unreachable or too slow → 451 4.4.0
//   LMTP:   its own refusal, code, enhanced code and text; 451 4.4.0
//           when it cannot be asked
//
// Runs on the caller's executor, never blocking it, each step under a
// deadline ([auth] dovecot_timeout for the userdb).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "delivery/lmtp.hpp"
#include "smtp/reply.hpp"

namespace postern::delivery {

// True when check_recipient() has a server to ask under `config`.
bool checks_recipients(const config::Config& config);

// `address`: the canonical address, in a local domain.
// `pool`: LMTP connections kept between checks (may be null).
asio::awaitable<std::optional<smtp::Reply>> check_recipient(asio::any_io_executor executor,
                                                            const config::Config& config, std::string address,
                                                            LmtpSessionPool* pool = nullptr);

}  // namespace postern::delivery
