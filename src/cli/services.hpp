// What runs inside `postern serve` beside the listeners, composed here so
// that server/ knows nothing of delivery: local delivery (the path before
// the 250 and the journal) and the queue's scheduler with its transports.
// Passed to Server::run(); throws server::StartError to refuse to start.
#pragma once

namespace postern::server {
class Server;
}

namespace postern::cli {

void start_services(server::Server& server);

}  // namespace postern::cli
