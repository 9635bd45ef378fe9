#include "server/startup.hpp"

#include "server/server.hpp"

namespace postern::server {

void start_services(Server&) {
  // The queue runner and local delivery start here.
}

}  // namespace postern::server
