// Channel binding data of an OpenSSL TLS connection, for SCRAM -PLUS:
// TLS 1.3: tls-exporter (RFC 9266): 32 octets exported with the label
//          "EXPORTER-Channel-Binding" and an empty context;
// TLS 1.2: tls-unique (RFC 5929 §3.1): the first Finished message of the
//          latest handshake (the client's on a full handshake, the
//          server's on a resumed one).
// Older protocols and failures give empty bindings (no -PLUS). Call after
// the handshake, from the thread that owns the connection.
#pragma once

#include <openssl/ssl.h>

#include "sasl/mechanism.hpp"

namespace postern::sasl {

ChannelBindings channel_bindings(SSL* ssl, bool is_server);

}  // namespace postern::sasl
