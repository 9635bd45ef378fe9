// Delivery through an LMTP server (RFC 2033), such as Dovecot's, when
// [delivery] transport = "lmtp:unix:PATH" or "lmtp:inet:HOST:PORT"
// (SPEC §12). Both halves speak the shared client dialogue
// (client::Session in LMTP mode: LHLO, one reply per recipient after the
// dot), on the caller's executor, never blocking a thread:
//
//  * lmtp_check_recipient(): at RCPT, for a local recipient, MAIL FROM:<>,
//    RCPT TO, RSET (on a connection kept for the next check: LmtpSessionPool), so the mailbox server says
//    whether it will take the mail (Dovecot: unknown user 550 5.1.1, over
//    quota 552 5.2.2) before we answer: no accept-then-bounce. Its refusal
//    is passed on with its own code, enhanced code and text; a 4xx stays a
//    4xx. A server that cannot be reached, is too slow or answers out of
//    turn gives 451 4.4.0 (the client retries), never a 5xx.
//  * deliver(): the queue's scheduler hands it the recipients of one
//    spooled message; each one's reply after the dot decides it: 2xx
//    delivered, 4xx deferred (retried on the local schedule), 5xx bounced.
//    No reply (the connection broke, the server is down) defers.
//
// Durability (docs/store.md): a message for an LMTP server is always
// spooled before its 250; the spool says "delivered" only after the LMTP
// server's 250 for that recipient (which an LMTP server gives only once
// the message is in the mailbox: RFC 2033 §4.2).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/session.hpp"
#include "config/config.hpp"
#include "smtp/reply.hpp"
#include "store/spool.hpp"

namespace postern::delivery {

struct LmtpTimeouts {
  std::chrono::seconds connect{10};
  std::chrono::seconds command{30};   // each reply before the dot (RCPT checks: the client is waiting)
  std::chrono::seconds data{600};     // the replies after the dot (Sieve, quota, fsync)
};

// How to reach the LMTP server of `config` (which must have an lmtp transport).
client::Options lmtp_options(const config::Config& config, const LmtpTimeouts& timeouts);

// Connections kept open between RCPT checks (each left clean after its
// RSET): at most `max_idle` in all, each for at most `max_idle_time`, for
// the executor (I/O thread) it was opened on. Thread-safe. Destroy it
// before the executors it holds sessions of.
class LmtpSessionPool {
 public:
  static constexpr std::size_t max_idle = 16;
  static constexpr std::chrono::seconds max_idle_time{20};

  LmtpSessionPool() = default;
  ~LmtpSessionPool();
  LmtpSessionPool(const LmtpSessionPool&) = delete;
  LmtpSessionPool& operator=(const LmtpSessionPool&) = delete;

  // An idle session to `server` (Config::transport()) on `executor`, or null.
  std::unique_ptr<client::Session> take(const std::string& server, const asio::any_io_executor& executor);
  void give(std::unique_ptr<client::Session> session, std::string server);

 private:
  struct Idle {
    std::unique_ptr<client::Session> session;
    std::string server;
    std::chrono::steady_clock::time_point since;
  };
  std::mutex mutex_;
  std::vector<Idle> idle_;
};

// The reply to give at RCPT for `address` (already final_recipient()),
// or nullopt when the LMTP server takes it. With `pool`, a kept
// connection is used when there is one (a new one when the server closed
// it meanwhile) and kept again afterwards.
asio::awaitable<std::optional<smtp::Reply>> lmtp_check_recipient(asio::any_io_executor executor,
                                                            const config::Config& config, std::string address,
                                                            LmtpSessionPool* pool = nullptr,
                                                            LmtpTimeouts timeouts = {});

// One recipient's result after an attempt.
struct LmtpResult {
  std::size_t recipient = 0;  // index into the entry's recipients
  store::RecipientStatus status = store::RecipientStatus::deferred;
  std::string reply;  // the server's reply ("250 2.0.0 <a@example.org> ... Saved"), or ours
};

// Delivers `message` (as spooled) of `entry` to its recipients `recipients`
// (indexes) in one LMTP transaction; one result per recipient, same order.
asio::awaitable<std::vector<LmtpResult>> deliver(asio::any_io_executor executor, const config::Config& config,
                                                 const store::SpoolEntry& entry, const std::string& message,
                                                 const std::vector<std::size_t>& recipients,
                                                 LmtpTimeouts timeouts = {});

// What an LMTP reply at RCPT becomes for our client: nullopt for a 2xx;
// the same code, enhanced code and (printable) text for a refusal, with
// X.0.0 where the server gave no enhanced code; 421 (the LMTP server
// closing, not us) becomes 451. Pure (tests).
std::optional<smtp::Reply> rcpt_reply(const smtp::Reply& lmtp);

// 451 4.4.0: the mailbox server could not be asked.
smtp::Reply lmtp_unavailable();

// 553 5.6.7 (RFC 6531 §3.5): a non-ASCII address for an LMTP server that
// does not offer SMTPUTF8, refused at RCPT or bounced, never retried.
smtp::Reply non_ascii_refused();

}  // namespace postern::delivery
