#include "server/inbound_stage.hpp"

#include <chrono>

#include "inbound/dnsbl.hpp"
#include "inbound/message_check.hpp"
#include "inbound/resolver_source.hpp"
#include "log/log.hpp"
#include "server/message_sink.hpp"
#include "server/server.hpp"
#include "util/strings.hpp"

namespace postern::server {
namespace {

// All the lookups of one message's checks, or of one DNSBL check, together.
constexpr auto check_time_limit = std::chrono::seconds(20);

inbound::ResolverSource dns_for(Server& server, const asio::any_io_executor& executor) {
  return inbound::ResolverSource(server.resolver(executor), std::chrono::steady_clock::now() + check_time_limit);
}

bool applies(const admission::SessionInfo& session) {
  return session.role == config::Role::mx && !session.authenticated();
}

asio::ip::address client_address(const admission::SessionInfo& session) {
  asio::error_code ec;
  auto a = asio::ip::make_address(session.peer_address, ec);
  if (ec) return {};
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

InboundStage::InboundStage() = default;
InboundStage::~InboundStage() = default;

asio::awaitable<std::optional<smtp::Reply>> InboundStage::at_rcpt(Server& server, asio::any_io_executor executor,
                                                                   const admission::SessionInfo& session,
                                                                   const admission::TransactionInfo& transaction,
                                                                   const std::string& recipient) {
  const auto& lists = session.config->inbound.dnsbl;
  if (lists.empty() || !applies(session)) co_return std::nullopt;
  if (dnsbl_checked_) co_return dnsbl_reply_;
  dnsbl_checked_ = true;
  const auto client = client_address(session);
  if (client.is_unspecified()) co_return std::nullopt;
  auto dns = dns_for(server, executor);
  auto out = co_await inbound::check_dnsbl(dns, client, lists);
  for (const auto& list : out.failed)
    log::Event("dnsbl_failed").add("session", session.id).add("client", session.peer_address).add("list", list);
  if (!out.listing) co_return std::nullopt;
  const auto& l = *out.listing;
  log::Event("dnsbl_listed").add("session", session.id).add("client", session.peer_address)
      .add("from", "<" + transaction.reverse_path.str() + ">").add("to", "<" + recipient + ">").add("list", l.list)
      .add("text", util::printable(l.text, 200));
  std::string text = "Service unavailable; client [" + session.peer_address + "] blocked using " + l.list;
  if (!l.text.empty()) text += "; " + util::printable(l.text, 300);
  dnsbl_reply_ = smtp::Reply(554, "5.7.1", text);
  co_return dnsbl_reply_;
}

void InboundStage::begin(const admission::SessionInfo& session,
                         const admission::TransactionInfo& transaction) {
  check_.reset();
  const auto& cfg = session.config->inbound;
  if (!cfg.checks_messages() || !applies(session)) return;
  inbound::CheckSettings settings;
  settings.spf = cfg.spf;
  settings.dkim = cfg.dkim;
  settings.dmarc = cfg.dmarc;
  settings.dmarc_enforce = cfg.dmarc_enforce;
  settings.authserv_id = session.config->hostname;
  inbound::CheckEnvelope envelope;
  envelope.client = client_address(session);
  envelope.helo = session.helo;
  envelope.mail_from = transaction.reverse_path.str();
  check_ = std::make_unique<inbound::MessageCheck>(std::move(settings), std::move(envelope));
}

asio::awaitable<void> InboundStage::add(MessageSink& sink, std::string bytes) {
  if (check_) bytes = check_->feed(bytes);
  if (!bytes.empty()) co_await sink.add(std::move(bytes));
}

asio::awaitable<std::optional<smtp::Reply>> InboundStage::at_end(Server& server, asio::any_io_executor executor,
                                                                  const admission::SessionInfo& session,
                                                                  MessageSink& sink) {
  if (!check_) co_return std::nullopt;
  auto check = std::move(check_);
  auto rest = check->flush();
  if (!rest.empty()) co_await sink.add(std::move(rest));
  auto dns = dns_for(server, executor);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  auto verdict = co_await check->finish(dns, now);
  log::Event("inbound")
      .add("session", session.id)
      .add("queue_id", sink.queue_id())
      .add("client", session.peer_address)
      .add("results", verdict.summary)
      .add("removed_ar", static_cast<long long>(check->removed()))
      .add("action", verdict.reject ? "reject" : verdict.quarantined ? "quarantine" : "accept");
  if (verdict.reject) co_return smtp::Reply(550, "5.7.1", *verdict.reject);
  co_await sink.prepend(std::move(verdict.header));
  co_return std::nullopt;
}

void InboundStage::abandon() { check_.reset(); }

}  // namespace postern::server
