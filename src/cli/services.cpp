#include "cli/services.hpp"

#include "log/log.hpp"
#include "queue/route.hpp"
#include "queue/scheduler.hpp"
#include "server/intake.hpp"
#include "server/server.hpp"
#include "store/local_delivery.hpp"
#include "store/users.hpp"

namespace postern::cli {

void start_services(server::Server& server) {
  auto config = server.config();
  server.keep(config);

  auto users = std::make_shared<store::UserDb>(config->database_path());
  if (config->delivers_locally(config->postmaster) && users->ensure(config->postmaster))
    log::Event("postmaster_created").add("address", config->postmaster);
  server.keep(users);

  // Local mailboxes: delivery before the 250 for what fits (the intake
  // offers each message), and the transport the scheduler uses for the rest.
  auto local = std::make_shared<store::LocalDelivery>(config, server.spool(), users.get());
  server.keep(local);
  server.intake().deliver_directly([l = local.get()](const std::string& id, const store::Envelope& e,
                                                       std::string_view m) { return l->deliver_now(id, e, m); });
  local->start();

  // One scheduler for every spooled message, local and remote recipients
  // alike. Its DSNs enter through the intake like any message.
  queue::SchedulerOptions options;
  options.smtp.mx_port = queue::mx_port_from_environment();
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
}

}  // namespace postern::cli
