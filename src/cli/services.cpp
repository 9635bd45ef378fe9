#include "cli/services.hpp"

#include "http/metrics_endpoint.hpp"
#include "log/log.hpp"
#include "queue/route.hpp"
#include "queue/scheduler.hpp"
#include "server/intake.hpp"
#include "server/server.hpp"
#include "admission/user_checks.hpp"
#include "delivery/local_delivery.hpp"
#include "store/sender_ownership.hpp"
#include "store/users.hpp"

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
  server.intake().deliver_directly([l = local.get(), m = metrics.get()](const std::string& id, const store::Envelope& e,
                                                                         std::string_view message) {
    if (!l->deliver_now(id, e, message)) return false;
    if (m) {
      m->add("postern_delivery_attempts_total", {{"transport", "direct"}, {"status", "delivered"}},
             static_cast<double>(e.recipients.size()));
      m->observe("postern_delivery_seconds",
                 std::chrono::duration<double>(std::chrono::system_clock::now() - e.received_at).count(),
                 {{"transport", "direct"}});
    }
    return true;
  });
  // What an alias expands to enters again through the intake, like a DSN.
  local->set_inject([&intake = server.intake()](const store::Envelope& e, std::string_view m) {
    return intake.accept(e, m, intake.new_id());
  });
  local->start();

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
