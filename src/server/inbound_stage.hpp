// Where a session meets the built-in inbound checks ([inbound], SPEC §13;
// src/inbound/): on mx listeners, for clients that did not authenticate.
// At RCPT, the DNS block lists (once per session: the client's address
// does not change); during DATA, the message streams through
// inbound::MessageCheck on its way to the sink; at its end, the lookups,
// the Authentication-Results field on top of the message, and the DMARC
// verdict (550 5.7.1 or X-Postern-Quarantine with dmarc_enforce).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "admission/session_info.hpp"
#include "config/config.hpp"
#include "smtp/reply.hpp"

namespace postern::inbound {
class MessageCheck;
}

namespace postern::server {

class MessageSink;
class Server;

class InboundStage {
 public:
  InboundStage();
  ~InboundStage();

  // RCPT: a 554 5.7.1 when a block list names the client, else nullopt.
  asio::awaitable<std::optional<smtp::Reply>> at_rcpt(Server& server, asio::any_io_executor executor,
                                                      const admission::SessionInfo& session,
                                                      const admission::TransactionInfo& transaction,
                                                      const std::string& recipient);
  // The message begins (after DATA's 354 or with the first BDAT).
  void begin(const admission::SessionInfo& session,
             const admission::TransactionInfo& transaction);
  // Message octets, through the check when there is one, into `sink`.
  asio::awaitable<void> add(MessageSink& sink, std::string bytes);
  // The message ended: its verdict, and the header put on top of it. A
  // reply when the message is refused (DMARC p=reject), else nullopt.
  asio::awaitable<std::optional<smtp::Reply>> at_end(Server& server, asio::any_io_executor executor,
                                                     const admission::SessionInfo& session, MessageSink& sink);
  // Whether the message passes through a check (it adds a header at the end).
  bool checking() const { return check_ != nullptr; }
  // The transaction ended without a message.
  void abandon();

 private:
  std::unique_ptr<inbound::MessageCheck> check_;
  bool dnsbl_checked_ = false;
  std::optional<smtp::Reply> dnsbl_reply_;
};

}  // namespace postern::server
