#include "sasl/tls_binding.hpp"

#include <cstring>

namespace postern::sasl {

ChannelBindings channel_bindings(SSL* ssl, bool is_server) {
  ChannelBindings cb;
  if (ssl == nullptr) return cb;
  const int version = SSL_version(ssl);
  if (version == TLS1_3_VERSION) {
    static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
    unsigned char out[32];
    if (SSL_export_keying_material(ssl, out, sizeof out, kLabel, std::strlen(kLabel), nullptr, 0, 0) == 1)
      cb.tls_exporter.assign(reinterpret_cast<char*>(out), sizeof out);
  } else if (version == TLS1_2_VERSION) {
    unsigned char buf[EVP_MAX_MD_SIZE];
    // The first Finished of the handshake: the client's, unless resumed.
    const bool client_finished = !SSL_session_reused(ssl);
    const bool ours = is_server ? !client_finished : client_finished;
    std::size_t n = ours ? SSL_get_finished(ssl, buf, sizeof buf) : SSL_get_peer_finished(ssl, buf, sizeof buf);
    if (n > 0 && n <= sizeof buf) cb.tls_unique.assign(reinterpret_cast<char*>(buf), n);
  }
  return cb;
}

}  // namespace postern::sasl
