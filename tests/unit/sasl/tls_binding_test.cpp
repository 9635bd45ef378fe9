// Both ends of an in-memory TLS connection compute the same channel
// binding, of the right kind for the protocol version, and different
// connections get different bindings.
#include "sasl/tls_binding.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace postern::sasl {
namespace {

struct Pair {
  SSL_CTX* server_ctx = nullptr;
  SSL_CTX* client_ctx = nullptr;
  SSL* server = nullptr;
  SSL* client = nullptr;
  ~Pair() {
    SSL_free(server);
    SSL_free(client);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
  }
};

void make_identity(SSL_CTX* ctx) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  ASSERT_EQ(SSL_CTX_use_certificate(ctx, cert), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(ctx, key), 1);
  X509_free(cert);
  EVP_PKEY_free(key);
}

void handshake(Pair& p, int version) {
  p.server_ctx = SSL_CTX_new(TLS_server_method());
  p.client_ctx = SSL_CTX_new(TLS_client_method());
  make_identity(p.server_ctx);
  SSL_CTX_set_min_proto_version(p.server_ctx, version);
  SSL_CTX_set_max_proto_version(p.server_ctx, version);
  p.server = SSL_new(p.server_ctx);
  p.client = SSL_new(p.client_ctx);
  BIO *a = nullptr, *b = nullptr;
  ASSERT_EQ(BIO_new_bio_pair(&a, 0, &b, 0), 1);
  SSL_set_bio(p.server, a, a);
  SSL_set_bio(p.client, b, b);
  SSL_set_accept_state(p.server);
  SSL_set_connect_state(p.client);
  bool server_done = false, client_done = false;
  for (int i = 0; i < 100 && !(server_done && client_done); ++i) {
    if (!client_done) {
      int r = SSL_do_handshake(p.client);
      if (r == 1) client_done = true;
      else ASSERT_EQ(SSL_get_error(p.client, r), SSL_ERROR_WANT_READ);
    }
    if (!server_done) {
      int r = SSL_do_handshake(p.server);
      if (r == 1) server_done = true;
      else ASSERT_EQ(SSL_get_error(p.server, r), SSL_ERROR_WANT_READ);
    }
  }
  ASSERT_TRUE(server_done && client_done);
}

TEST(TlsBinding, Tls13UsesTlsExporter) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(handshake(p, TLS1_3_VERSION));
  auto s = channel_bindings(p.server, true);
  auto c = channel_bindings(p.client, false);
  EXPECT_EQ(s.tls_exporter.size(), 32u);
  EXPECT_TRUE(s.tls_unique.empty());
  EXPECT_EQ(s.tls_exporter, c.tls_exporter);

  Pair q;
  ASSERT_NO_FATAL_FAILURE(handshake(q, TLS1_3_VERSION));
  EXPECT_NE(channel_bindings(q.server, true).tls_exporter, s.tls_exporter);
}

TEST(TlsBinding, Tls12UsesTlsUnique) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(handshake(p, TLS1_2_VERSION));
  auto s = channel_bindings(p.server, true);
  auto c = channel_bindings(p.client, false);
  EXPECT_TRUE(s.tls_exporter.empty());
  EXPECT_EQ(s.tls_unique.size(), 12u);  // TLS 1.2 verify_data
  EXPECT_EQ(s.tls_unique, c.tls_unique);
}

TEST(TlsBinding, NoConnectionNoBinding) { EXPECT_FALSE(channel_bindings(nullptr, true).any()); }

}  // namespace
}  // namespace postern::sasl
