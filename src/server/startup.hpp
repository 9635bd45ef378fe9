// Services that run inside `postern serve` beside the listeners: local
// delivery from the spool and the outbound queue runner (src/queue/).
// start_services() is called once by Server::run(), after bind() and the
// privilege drop, before the first connection is accepted. A service
// schedules its work on server.main_context() or server.blocking(), hooks
// Intake::on_accepted to be woken per message, and registers
// server.on_stop() to finish within the shutdown grace period and
// server.on_reload() for SIGHUP. Throw StartError to refuse to start.
#pragma once

namespace postern::server {

class Server;

void start_services(Server& server);

}  // namespace postern::server
