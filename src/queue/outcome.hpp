// What one attempt at one recipient came to, as every transport reports
// it: delivered, deferred or bounced, with the reply that said so (typed:
// code, enhanced code, text) or our own reason when no server or mailbox
// answered, and the RFC 3463 status the DSN carries.
#pragma once

#include <optional>
#include <string>

#include "client/session.hpp"
#include "explain/explain.hpp"
#include "smtp/reply.hpp"
#include "delivery/local_delivery.hpp"

namespace postern::queue {

struct Outcome {
  enum class Kind { delivered, deferred, bounced };
  Kind kind = Kind::deferred;
  std::optional<smtp::Reply> reply;  // what the server (or the mailbox) answered
  std::string reason;                // our own words when nobody answered
  std::string status;                // enhanced code for the DSN: "5.1.1", "4.4.1"
  std::string remote_mta;            // host name of the server that answered; "" for none or local

  // One line: "450 4.2.0 Greylisted ..." or the reason.
  std::string summary() const;
  // For people (DSNs): what the reply, or our status alone, means and what to do.
  explain::Advice advice() const;

  static Outcome from_reply(const smtp::Reply& reply, const std::string& remote);
  // A failure of ours (DNS, connect, TLS) with its status.
  static Outcome ours(Kind kind, std::string status, std::string reason);
};

// An SMTP client error: a server's refusal keeps its reply; TLS trouble, a
// protocol hiccup or a refused smarthost login is never the recipient's
// fault and defers.
Outcome from_client_error(const client::Error& error, const std::string& remote);

// A local mailbox's result.
Outcome from_local(const delivery::LocalDelivery::Result& result);

// "550 5.1.1 text" → that Reply; nullopt when the text does not start with a code.
std::optional<smtp::Reply> parse_summary(std::string_view summary);

}  // namespace postern::queue
