#include "server/incoming.hpp"

#include <cerrno>

#include "admission/checks.hpp"
#include "log/log.hpp"
#include "server/intake.hpp"
#include "server/received.hpp"
#include "server/server.hpp"
#include "smtp/replies.hpp"

namespace postern::server {
namespace {

// RFC 5321 §6.3: more Received: fields than this and the message is looping.
constexpr unsigned max_received_fields = 50;

}  // namespace

std::unique_ptr<MessageSink> open_message(Server& server, const admission::SessionInfo& info,
                                          const admission::TransactionInfo& tx, std::string tls_details,
                                          std::string queue_id) {
  store::Envelope envelope;
  envelope.reverse_path = tx.reverse_path.str();
  envelope.recipients = tx.recipients;
  envelope.client_address = info.peer_address;
  envelope.client_helo = info.helo;
  envelope.auth_identity = info.auth_identity;
  if (tx.parameters.auth) envelope.auth_param = *tx.parameters.auth;
  envelope.body_type = tx.parameters.body == smtp::BodyType::eight_bit_mime ? "8BITMIME"
                       : tx.parameters.body == smtp::BodyType::seven_bit   ? "7BIT"
                                                                           : "";
  envelope.smtputf8 = tx.parameters.smtputf8;
  envelope.received_at = std::chrono::system_clock::now();

  ReceivedInfo received;
  received.helo = info.helo;
  received.peer_address = info.peer_address;
  received.hostname = info.config->hostname;
  received.esmtp = info.esmtp;
  received.tls = info.tls;
  received.authenticated = info.authenticated();
  received.id = queue_id.empty() ? server.intake().new_id() : std::move(queue_id);
  received.tls_details = std::move(tls_details);
  if (tx.recipients.size() == 1) received.for_recipient = tx.recipients.front();
  received.when = envelope.received_at;
  return std::make_unique<MessageSink>(server, std::move(envelope), received.id, received_header(received));
}

asio::awaitable<smtp::Reply> store_message(Server& server, const admission::SessionInfo& info,
                                           const admission::TransactionInfo& tx, MessageSink& sink) {
  if (auto r = server.checks().on_message(info, tx, sink.size())) co_return *r;
  // RFC 5321 §6.3: a message that has passed this many hops is looping.
  if (sink.received_count() > max_received_fields) {
    log::Event("loop").add("session", info.id).add("client", info.peer_address)
        .add("received", static_cast<long long>(sink.received_count()));
    co_return smtp::replies::too_many_hops();
  }
  std::string queue_id;
  try {
    // Disk I/O (fsync) runs on the blocking pool; this I/O thread serves
    // other sessions meanwhile. The 250 waits for it (SPEC §5).
    queue_id = co_await sink.commit();
  } catch (const std::exception& e) {
    log::Event("spool_failed").add("session", info.id).add("client", info.peer_address).add("error", e.what());
    const auto* io = dynamic_cast<const store::IoError*>(&e);
    const bool full = io && (io->code().value() == ENOSPC || io->code().value() == EDQUOT || io->code().value() == EFBIG);
    co_return full ? smtp::replies::insufficient_storage() : smtp::replies::local_error();
  }
  const auto& envelope = sink.envelope();
  log::Event("accepted")
      .add("session", info.id)
      .add("queue_id", queue_id)
      .add("client", info.peer_address)
      .add("from", "<" + envelope.reverse_path + ">")
      .add("nrcpt", static_cast<long long>(envelope.recipients.size()))
      .add("size", static_cast<long long>(sink.size()));
  co_return smtp::replies::queued(queue_id);
}

}  // namespace postern::server
