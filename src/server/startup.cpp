#include "server/startup.hpp"

#include "log/log.hpp"
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
  if (users->ensure(config->postmaster)) log::Event("postmaster_created").add("address", config->postmaster);
  auto delivery = std::make_shared<store::LocalDelivery>(*config, server.spool(), users.get());
  server.keep(users);
  server.keep(delivery);
  server.intake().on_accepted([d = delivery.get()](const std::string& id) { d->submit(id); });
  server.on_stop([d = delivery.get()] { d->stop(); });
  delivery->start();

  // The outbound queue runner starts here.
}

}  // namespace postern::server
