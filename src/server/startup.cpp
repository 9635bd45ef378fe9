#include "server/startup.hpp"

#include "log/log.hpp"
#include "queue/route.hpp"
#include "queue/runner.hpp"
#include "server/intake.hpp"
#include "server/server.hpp"
#include "store/local_delivery.hpp"
#include "store/users.hpp"

namespace postern::server {

void start_services(Server& server) {
  auto config = server.config();
  server.keep(config);

  // Local delivery: every accepted message is handed to the worker, which
  // also picks up what was spooled before a restart.
  auto users = std::make_shared<store::UserDb>(config->database_path());
  if (config->delivers_locally(config->postmaster) && users->ensure(config->postmaster))
    log::Event("postmaster_created").add("address", config->postmaster);
  auto delivery = std::make_shared<store::LocalDelivery>(config, server.spool(), users.get());
  server.keep(users);
  server.keep(delivery);
  server.intake().on_accepted([d = delivery.get()](const std::string& id) { d->submit(id); });
  server.intake().deliver_directly([d = delivery.get()](const std::string& id, const store::Envelope& e,
                                                          std::string_view m) { return d->deliver_now(id, e, m); });
  server.on_stop([d = delivery.get()] { d->stop(); });
  server.on_reload([d = delivery.get()](std::shared_ptr<const config::Config> fresh) { d->reload(std::move(fresh)); });
  delivery->start();

  // The outbound queue runner: non-local recipients of every accepted
  // message (and of what was spooled before a restart). Its DSNs enter
  // through the intake like any message.
  queue::RunnerOptions options;
  options.mx_port = queue::mx_port_from_environment();
  auto runner = std::make_shared<queue::Runner>(
      *config, server.spool(),
      [&intake = server.intake()](const store::Envelope& e, std::string_view m) { return intake.accept(e, m, intake.new_id()); },
      [d = delivery.get()](std::string_view address) { return d->is_local(address); }, options);
  server.keep(runner);
  server.intake().on_accepted([r = runner.get()](const std::string& id) { r->submit(id); });
  server.on_stop([r = runner.get()] { r->stop(); });
  server.on_reload([r = runner.get()](std::shared_ptr<const config::Config> fresh) { r->reload(*fresh); });
  try {
    runner->start();
  } catch (const std::invalid_argument& e) {
    throw StartError(78, std::string("relay.dns_servers: ") + e.what());
  }
}

}  // namespace postern::server
