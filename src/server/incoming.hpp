// A message from a client on its way to the spool, as a session sees it:
// open_message() builds the envelope and our Received: header from what
// the session and the transaction established; store_message() runs the
// checks that need the whole message, the loop rule (RFC 5321 §6.3),
// makes it durable and chooses the reply (250 with the queue id, or why
// not). The session only hands the body octets in between.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <string>

#include "admission/session_info.hpp"
#include "server/message_sink.hpp"
#include "smtp/reply.hpp"

namespace postern::server {

class Server;

// `queue_id`: the id chosen beforehand (the milters were told it at MAIL); "" for a new one.
std::unique_ptr<MessageSink> open_message(Server& server, const admission::SessionInfo& session,
                                          const admission::TransactionInfo& transaction, std::string tls_details,
                                          std::string queue_id = "");

asio::awaitable<smtp::Reply> store_message(Server& server, const admission::SessionInfo& session,
                                           const admission::TransactionInfo& transaction, MessageSink& sink);

}  // namespace postern::server
