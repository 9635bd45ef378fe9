#include "cli/services.hpp"

#include <asio/this_coro.hpp>

#include "http/metrics_endpoint.hpp"
#include "log/log.hpp"
#include "queue/route.hpp"
#include "queue/scheduler.hpp"
#include "server/intake.hpp"
#include "server/server.hpp"
#include "admission/user_checks.hpp"
#include "delivery/recipient_check.hpp"
#include "delivery/local_delivery.hpp"
#include "store/forwarding.hpp"
#include "store/sender_ownership.hpp"
#include "store/users.hpp"
#include "util/strings.hpp"

namespace postern::cli {
namespace {

void describe(util::Metrics& m) {
  m.describe("postern_connections_total", "counter", "Connections accepted, by listener.");
  m.describe("postern_sessions_total", "counter", "Sessions ended, by how they ended (quit, closed, timeout, shutdown).");
  m.describe("postern_smtp_replies_total", "counter", "Replies sent, by basic and enhanced code.");
  m.describe("postern_auth_total", "counter", "AUTH exchanges, by mechanism and result.");
  m.describe("postern_greylist_total", "counter", "Greylist decisions at RCPT (pass, allow, greylisted, error).");
  m.describe("postern_delivery_attempts_total", "counter",
             "Delivery attempts per recipient, by transport (direct: before the 250) and status.");
  m.describe("postern_delivery_seconds", "histogram", "Time from acceptance to delivery, by transport.");
}

// [auth] dovecot_userdb or [delivery] transport = "lmtp:...": at RCPT,
// after every check of our own, the server that keeps the mailboxes says
// whether it takes a local recipient (SPEC §12; delivery/recipient_check).
// Postmaster (always accepted, RFC 5321 §4.5.1) and what the aliases file
// or SRS expands are not its to judge.
class MailboxServerRecipients final : public server::RecipientVerifier {
 public:
  explicit MailboxServerRecipients(store::UserDb* users) : forwarding_(users) {}

  asio::awaitable<std::optional<smtp::Reply>> verify(const admission::SessionInfo& session,
                                                     const admission::TransactionInfo&,
                                                     const smtp::Path& path) override {
    const config::Config& config = *session.config;
    const auto& mailbox = path.mailbox;
    if (!delivery::checks_recipients(config) || path.postmaster || mailbox.address_literal ||
        !config.is_local_domain(mailbox.domain) || util::iequals(mailbox.local_part, "postmaster"))
      co_return std::nullopt;
    const auto address = store::canonical_address(mailbox.local_part + "@" + mailbox.domain);
    if (!address) co_return std::nullopt;  // the user checks refused it already
    try {
      if (forwarding_.expand(config, *address).kind != store::Expansion::Kind::none) co_return std::nullopt;
    } catch (const std::exception&) {
      co_return std::nullopt;  // the user checks answered 451 for this already
    }
    // Named, not temporaries: GCC 12 destroys temporaries in a co_await expression twice.
    asio::any_io_executor executor = co_await asio::this_coro::executor;
    std::string to = *address;
    auto reply = co_await delivery::check_recipient(executor, config, std::move(to), &connections_);
    co_return reply;
  }

 private:
  store::Forwarding forwarding_;
  delivery::LmtpSessionPool connections_;  // the server destroys its verifier before its I/O contexts
};

// The intake's view of a delivery::MaildirStream; counts the delivery as the direct path does.
class MailboxStream final : public server::Intake::DirectStream {
 public:
  MailboxStream(std::unique_ptr<delivery::MaildirStream> stream, delivery::LocalDelivery& local, util::Metrics* metrics,
                std::string id, const store::Envelope& envelope)
      : stream_(std::move(stream)), local_(local), metrics_(metrics), id_(std::move(id)), envelope_(envelope) {}
  void append(std::string_view bytes) override { stream_->append(bytes); }
  std::uint64_t size() const override { return stream_->size(); }
  std::string read(std::uint64_t offset, std::size_t max) const override { return stream_->read(offset, max); }
  void commit() override {
    stream_->commit();
    // Delivered: nothing below may make the caller spool it a second time.
    try {
      record();
    } catch (const std::exception&) {
    }
  }

 private:
  void record() {
    local_.log_delivered(id_, envelope_);
    if (!metrics_) return;
    metrics_->add("postern_delivery_attempts_total", {{"transport", "direct"}, {"status", "delivered"}},
                  static_cast<double>(envelope_.recipients.size()));
    metrics_->observe("postern_delivery_seconds",
                      std::chrono::duration<double>(std::chrono::system_clock::now() - envelope_.received_at).count(),
                      {{"transport", "direct"}});
  }

  std::unique_ptr<delivery::MaildirStream> stream_;
  delivery::LocalDelivery& local_;
  util::Metrics* metrics_;
  std::string id_;
  store::Envelope envelope_;
};

}  // namespace

void start_services(server::Server& server) {
  auto config = server.config();
  server.keep(config);

  auto users = server.users().open(*config);  // the handle the server's checks and AUTH use
  if (config->delivers_locally(config->postmaster) && users->ensure(config->postmaster))
    log::Event("postmaster_created").add("address", config->postmaster);
  server.keep(users);
  if (auto why = admission::postmaster_undeliverable(*config)) log::Event("warning").add("message", *why);

  // Local mailboxes: delivery before the 250 for what fits (the intake
  // offers each message), and the transport the scheduler uses for the rest.
  // [http] listen: GET /metrics, counted by the sessions, AUTH and delivery.
  std::shared_ptr<util::Metrics> metrics;
  if (!config->http.listen.empty()) {
    metrics = std::make_shared<util::Metrics>();
    describe(*metrics);
    server.keep(metrics);
    server.set_metrics(metrics.get());
  }

  auto local = std::make_shared<delivery::LocalDelivery>(config, server.spool(), users.get());
  server.keep(local);
  auto count_direct = [m = metrics.get()](const store::Envelope& e) {
    if (!m) return;
    m->add("postern_delivery_attempts_total", {{"transport", "direct"}, {"status", "delivered"}},
           static_cast<double>(e.recipients.size()));
    m->observe("postern_delivery_seconds",
               std::chrono::duration<double>(std::chrono::system_clock::now() - e.received_at).count(),
               {{"transport", "direct"}});
  };
  server.intake().deliver_directly([l = local.get(), count_direct](const std::string& id, const store::Envelope& e,
                                                                    std::string_view message) {
    if (!l->deliver_now(id, e, message)) return false;
    count_direct(e);
    return true;
  });
  server.intake().deliver_directly_async([l = local.get(), count_direct](const std::string& id,
                                                                          const store::Envelope& e,
                                                                          std::string_view message,
                                                                          std::function<void(bool)> done) {
    return l->deliver_now_async(id, e, message, [&e, count_direct, done = std::move(done)](bool delivered) {
      if (delivered) count_direct(e);
      done(delivered);
    });
  });
  // Too large for memory: streamed into the mailboxes, written once.
  server.intake().stream_directly([l = local.get(), m = metrics.get()](const std::string& id, const store::Envelope& e,
                                                                       std::string_view first)
                                      -> std::unique_ptr<server::Intake::DirectStream> {
    auto stream = l->open_stream(id, e, first);
    if (!stream) return nullptr;
    return std::make_unique<MailboxStream>(std::move(stream), *l, m, id, e);
  });
  // What an alias expands to enters again through the intake, like a DSN.
  local->set_inject([&intake = server.intake()](const store::Envelope& e, std::string_view m) {
    return intake.accept(e, m, intake.new_id());
  });
  local->start();
  server.set_recipient_verifier(std::make_shared<MailboxServerRecipients>(users.get()));

  // One scheduler for every spooled message, local and remote recipients
  // alike. Its DSNs enter through the intake like any message.
  queue::SchedulerOptions options;
  options.smtp.mx_port = queue::mx_port_from_environment();
  options.metrics = metrics.get();
  // DKIM signs only From: domains the user owns (SPEC §11). `sendmail`'s
  // login is a local account name: it stands for that name in the first local domain.
  auto senders = std::make_shared<store::SenderOwnership>(*users);
  server.keep(senders);
  options.smtp.owns_domain = [s = senders.get()](const config::Config& c, std::string_view login, std::string_view domain) {
    std::string user(login);
    if (user.find('@') == std::string::npos && !c.local_domains.empty()) user += "@" + c.local_domains.front();
    return s->owns_domain(c, user, domain);
  };
  auto scheduler = std::make_shared<queue::Scheduler>(
      config, server.spool(), *local,
      [&intake = server.intake()](const store::Envelope& e, std::string_view m) {
        return intake.accept(e, m, intake.new_id());
      },
      options);
  server.keep(scheduler);
  server.intake().on_accepted([s = scheduler.get()](const std::string& id) { s->submit(id); });
  // The scheduler stops first: no attempt is in flight when the journal closes.
  server.on_stop([s = scheduler.get(), l = local.get()] {
    s->stop();
    l->stop();
  });
  server.on_reload([s = scheduler.get(), l = local.get()](std::shared_ptr<const config::Config> fresh) {
    l->reload(fresh);
    s->reload(std::move(fresh));
  });
  try {
    scheduler->start();
  } catch (const std::invalid_argument& e) {
    throw server::StartError(78, std::string("relay.dns_servers: ") + e.what());
  }

  if (metrics) {
    metrics->gauge("postern_queue_messages", "Spooled messages the scheduler holds.",
                   [s = scheduler.get()] { return static_cast<double>(s->stats().indexed); });
    for (const char* state : {"due", "deferred", "active"}) {
      metrics->gauge(std::string("postern_queue_") + state + "_messages",
                     std::string("Spooled messages ") +
                         (state == std::string("due") ? "due now" : state == std::string("deferred") ? "waiting for their next attempt" : "being attempted") + ".",
                     [s = scheduler.get(), state] {
                       const auto c = s->counts();
                       return static_cast<double>(state == std::string("due") ? c.due : state == std::string("deferred") ? c.deferred : c.active);
                     });
    }
    auto allowed_hosts = config->http.allowed_hosts;
    allowed_hosts.push_back(config->hostname);
    auto endpoint = std::make_shared<http::MetricsEndpoint>(*metrics, allowed_hosts);
    const auto where = config::parse_listen_address(config->http.listen);
    try {
      endpoint->start(where.host, where.port);
    } catch (const std::exception& e) {
      throw server::StartError(71, std::string("http.listen: ") + e.what());
    }
    log::Event("http_listen").add("address", config->http.listen).add("serves", "/metrics");
    server.keep(endpoint);
    server.on_stop([e = endpoint.get()] { e->stop(); });
  }
}

}  // namespace postern::cli
