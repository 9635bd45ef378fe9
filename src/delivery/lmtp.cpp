#include "delivery/lmtp.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "log/log.hpp"
#include "util/strings.hpp"

namespace postern::delivery {

client::Options lmtp_options(const config::Config& config, const LmtpTimeouts& timeouts) {
  client::Options o;
  o.lmtp = true;
  o.tls = client::TlsMode::none;  // a local socket or a trusted network: as Postfix's lmtp client by default
  o.verify_certificate = false;
  if (config.delivery.kind == config::TransportKind::lmtp_unix) {
    o.unix_path = config.delivery.lmtp_socket.string();
    o.host = "localhost";
  } else {
    o.host = config.delivery.lmtp_host;
    o.port = std::to_string(config.delivery.lmtp_port);
  }
  o.helo_name = config.hostname;
  o.connect_timeout = timeouts.connect;
  o.command_timeout = timeouts.command;
  o.data_timeout = timeouts.data;
  return o;
}

smtp::Reply lmtp_unavailable() {
  return smtp::Reply(451, "4.4.0", "Mailbox server unavailable, try again later");
}

smtp::Reply non_ascii_refused() {
  return smtp::Reply(553, "5.6.7", "The mailbox server does not accept non-ASCII addresses (no SMTPUTF8)");
}

std::optional<smtp::Reply> rcpt_reply(const smtp::Reply& r) {
  if (r.code >= 200 && r.code < 300) return std::nullopt;
  if (r.code < 400 || r.code > 599) return lmtp_unavailable();  // a 3xx to RCPT is out of turn
  const int code = r.code == 421 ? 451 : r.code;
  std::string enhanced = r.enhanced;
  if (enhanced.empty() || enhanced.front() != static_cast<char>('0' + code / 100))
    enhanced = std::to_string(code / 100) + ".0.0";
  std::string text = util::printable(r.text(), 300);
  if (text.empty()) text = code >= 500 ? "Recipient refused by the mailbox server" : "Recipient deferred by the mailbox server";
  return smtp::Reply(code, enhanced, text);
}

std::unique_ptr<client::Session> LmtpSessionPool::take(const std::string& server,
                                                       const asio::any_io_executor& executor) {
  std::vector<Idle> expired;  // closed outside the lock
  std::unique_ptr<client::Session> found;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (now - it->since > max_idle_time) {
        expired.push_back(std::move(*it));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if (it->server != server || it->session->executor() != executor) continue;
      found = std::move(it->session);
      idle_.erase(std::next(it).base());
      break;
    }
  }
  return found;
}

void LmtpSessionPool::give(std::unique_ptr<client::Session> session, std::string server) {
  std::vector<Idle> dropped;
  std::lock_guard lock(mutex_);
  if (idle_.size() >= max_idle) {
    dropped.push_back(std::move(idle_.front()));
    idle_.erase(idle_.begin());
  }
  idle_.push_back({std::move(session), std::move(server), std::chrono::steady_clock::now()});
}

LmtpSessionPool::~LmtpSessionPool() = default;

asio::awaitable<std::optional<smtp::Reply>> lmtp_check_recipient(asio::any_io_executor executor,
                                                            const config::Config& config, std::string address,
                                                            LmtpSessionPool* pool, LmtpTimeouts timeouts) {
  const std::string server = config.transport();
  client::Transaction t;
  t.recipients = {address};
  client::Delivery out;
  std::optional<client::Error> err;
  // A kept connection first; if the server closed it meanwhile (nothing
  // was answered on it), a new one.
  auto session = pool ? pool->take(server, executor) : nullptr;
  if (session) {
    err = co_await session->verify(t, out);
    if (err && !out.mail && err->kind != client::Error::Kind::unsupported) session.reset();
  }
  if (!session) {
    session = std::make_unique<client::Session>(executor, lmtp_options(config, timeouts));
    out = client::Delivery{};
    err = co_await session->open();
    if (!err) err = co_await session->verify(t, out);
  }
  std::optional<smtp::Reply> answer;
  if (out.mail && out.mail->positive() && !out.rcpt.empty() && out.rcpt[0]) {
    answer = rcpt_reply(*out.rcpt[0]);
  } else if (err && err->kind == client::Error::Kind::unsupported) {
    answer = non_ascii_refused();  // it never can: a 4xx would only bring the client back
  } else {
    const std::string why = err ? (err->reply ? err->reply->summary() + " (" + err->message + ")" : err->message)
                            : out.mail ? "MAIL FROM:<> refused: " + out.mail->summary()
                                       : "no reply to RCPT";
    log::Event("lmtp_unavailable").add("to", "<" + address + ">").add("server", server).add("error", why);
    answer = lmtp_unavailable();
  }
  if (!err && pool)
    pool->give(std::move(session), server);
  else if (!err)
    co_await session->quit();
  else
    session->close();
  co_return answer;
}

asio::awaitable<std::vector<LmtpResult>> deliver(asio::any_io_executor executor, const config::Config& config,
                                                 const store::SpoolEntry& entry, const std::string& message,
                                                 const std::vector<std::size_t>& recipients, LmtpTimeouts timeouts) {
  using store::RecipientStatus;
  client::Session session(executor, lmtp_options(config, timeouts));
  client::Transaction t;
  t.reverse_path = entry.envelope.reverse_path;
  // One RCPT per mailbox: addresses that name the same one (postmaster@
  // and the address it stands for, two spellings) share its reply, as they
  // share one file with the Maildir transport.
  std::vector<std::size_t> slot;
  for (auto i : recipients) {
    const std::string to = config.final_recipient(entry.recipients.at(i).address);
    const auto same = std::find_if(t.recipients.begin(), t.recipients.end(),
                                   [&](const std::string& r) { return util::iequals(r, to); });
    slot.push_back(static_cast<std::size_t>(same - t.recipients.begin()));
    if (same == t.recipients.end()) t.recipients.push_back(to);
  }
  t.message = message;
  client::Delivery out;
  auto err = co_await session.open();
  if (!err) err = co_await session.send(t, out);
  std::vector<LmtpResult> results;
  for (std::size_t k = 0; k < recipients.size(); ++k) {
    LmtpResult r{recipients[k], RecipientStatus::deferred, {}};
    if (auto reply = out.outcome(slot[k])) {
      r.reply = reply->summary();
      r.status = reply->code >= 200 && reply->code < 300 ? RecipientStatus::delivered
                 : reply->permanent()                    ? RecipientStatus::bounced
                                                         : RecipientStatus::deferred;
      // A 5xx to the whole session (greeting, LHLO) says nothing about the recipient.
    } else if (err && err->kind == client::Error::Kind::unsupported) {
      r.status = RecipientStatus::bounced;  // no later attempt can do better
      r.reply = non_ascii_refused().summary();
    } else if (err) {
      r.reply = "451 4.4.1 LMTP server " + config.transport() + ": " + util::printable(err->message, 300);
    } else {
      r.reply = "451 4.4.2 LMTP transaction ended without a reply for this recipient";
    }
    results.push_back(std::move(r));
  }
  if (!err) co_await session.quit();
  else session.close();
  co_return results;
}

}  // namespace postern::delivery
