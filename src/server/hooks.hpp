// What a front end other than the plain MTA may change in a session (the
// testbed, SPEC §10): an Admission that decides a command before the usual
// checks, and a SessionObserver that sees the dialogue line by line. Both
// are optional and set before the server runs; `postern serve` sets
// neither. Both are called on the session's I/O thread, concurrently from
// every thread: they must be thread-safe and quick.
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "admission/session_info.hpp"
#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace postern::server {

// Where in the dialogue a decision is asked for.
enum class Stage { ehlo, starttls, mail, rcpt, data, dot, auth };

struct Verdict {
  enum class Action {
    accept,    // go on as if every check had passed (RCPT: the recipient is taken)
    reply,     // answer `reply` instead (a 2xx reply to RCPT also takes the recipient)
    drop,      // close the connection without a reply
    shutdown,  // answer `reply` (a 421), then close
  };
  Action action = Action::accept;
  smtp::Reply reply;
  std::chrono::milliseconds delay{0};  // waited before the reply (or the close)
  std::uint64_t throttle = 0;          // DATA accepted: its body is read at this many octets a second (0: at once)
  std::string cause;                   // what decided it, for the transcript ("scenario locked+K", "rule 2")
};

class Admission {
 public:
  virtual ~Admission() = default;
  // nullopt: the usual checks decide. `argument`: the address for MAIL and
  // RCPT, the EHLO name, the authentication identity for AUTH (asked after
  // the SASL exchange, before its result is sent), "" otherwise.
  // `transaction` is null outside a transaction.
  virtual std::optional<Verdict> decide(Stage stage, const admission::SessionInfo& session, const admission::TransactionInfo* transaction,
                                        std::string_view argument) = 0;
};

// Asked at RCPT once every check of our own has accepted the recipient
// (`postern serve` with an LMTP transport asks the mailbox server:
// delivery/lmtp.hpp). May wait on the network, on the session's
// executor, never blocking the thread, with a deadline of its own.
// nullopt: take the recipient; else the reply to give.
class RecipientVerifier {
 public:
  virtual ~RecipientVerifier() = default;
  virtual asio::awaitable<std::optional<smtp::Reply>> verify(const admission::SessionInfo& session,
                                                             const admission::TransactionInfo& transaction,
                                                             const smtp::Path& forward_path) = 0;
};

class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  virtual void opened(const admission::SessionInfo&) {}
  // A line from the client (a command, or an answer to a 334), as read.
  virtual void client_line(const admission::SessionInfo&, std::string_view) {}
  // Message octets the client sent (DATA or BDAT), in total.
  virtual void client_message(const admission::SessionInfo&, std::uint64_t) {}
  // `cause`: the Verdict's cause when an Admission chose this reply, else "".
  virtual void server_reply(const admission::SessionInfo&, const smtp::Reply&, std::string_view /*cause*/) {}
  virtual void closed(const admission::SessionInfo&) {}
};

}  // namespace postern::server
