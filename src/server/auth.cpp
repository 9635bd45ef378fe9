// Placeholder seam until SASL lands: no mechanism is advertised and AUTH
// is answered as not implemented. The SASL side replaces this file.
#include "server/auth.hpp"

#include "server/session.hpp"

namespace postern::server {

std::vector<std::string> auth_mechanisms_for(const Session&) { return {}; }

asio::awaitable<smtp::Reply> handle_auth(Session&, const smtp::Command&) {
  co_return smtp::Reply{502, "5.5.1", "AUTH not available"};
}

}  // namespace postern::server
