// The Dovecot half of AUTH (auth.hpp, SPEC §12): which of Dovecot's
// mechanisms a connection is offered, from the list cached per server.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::server {

class AuthPeer;

// Dovecot's mechanisms for this connection's EHLO: none before TLS when
// require_tls; plaintext ones only over TLS unless require_tls is off;
// never the hidden ones or those needing channel binding.
std::vector<std::string> dovecot_mechanisms_for(const AuthPeer& session);
// False when Dovecot is known and does not offer `mechanism` here (504).
// An unknown list (Dovecot never reached) says true: the exchange then
// finds out and answers 454.
bool dovecot_may_offer(const AuthPeer& session, std::string_view mechanism);

}  // namespace postern::server
