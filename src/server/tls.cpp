#include "server/tls.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "log/log.hpp"
#include "store/durable_file.hpp"

namespace postern::server {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Ext = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("TLS: " + what); }

// Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD only, so
// no CBC suite (LUCKY13) and no static RSA key exchange. TLS 1.3 suites are
// all AEAD and stay OpenSSL's default.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) fail("cannot add certificate extension");
}

// Durably under a fresh, unpredictable temporary name, then renamed
// (store::write_durably): a crash never leaves half a key, and nothing
// planted at a guessable name (a symlink at key.pem.tmp) is written through.
void write_pem(const std::filesystem::path& path, mode_t mode, const auto& write) {
  std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>> bio(BIO_new(BIO_s_secmem()));
  if (!bio || write(bio.get()) != 1) fail("cannot encode " + path.string());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  try {
    store::write_durably(path, std::string_view(data, n > 0 ? static_cast<std::size_t>(n) : 0), mode);
  } catch (const std::exception& e) {
    fail("cannot write " + path.string() + ": " + e.what());
  }
}

}  // namespace

void generate_self_signed(const std::filesystem::path& cert_path, const std::filesystem::path& key_path,
                          const std::string& hostname) {
  try {
    store::create_directories_durably(cert_path.parent_path(), 0755);
    store::create_directories_durably(key_path.parent_path());
  } catch (const store::IoError& e) {
    fail(std::string(e.what()) + ": " + e.code().message());
  }

  PKey key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate a key");
  Cert cert(X509_new());
  if (!cert) fail("out of memory");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 3650);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Postern"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(hostname.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
  // The loopback names too, so `postern send --ca data_dir/tls/cert.pem --server 127.0.0.1:2587` verifies.
  std::string names = "DNS:" + hostname;
  if (hostname != "localhost") names += ",DNS:localhost";
  names += ",IP:127.0.0.1,IP:::1";
  add_extension(cert.get(), NID_subject_alt_name, names.c_str());
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) fail("cannot sign the certificate");

  write_pem(key_path, 0600, [&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  write_pem(cert_path, 0644, [&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
}

std::shared_ptr<asio::ssl::context> make_tls_context(const std::filesystem::path& cert,
                                                     const std::filesystem::path& key,
                                                     const std::string& hostname, bool may_generate) {
  const bool have_cert = std::filesystem::exists(cert), have_key = std::filesystem::exists(key);
  if (!have_cert && !have_key && !may_generate) {
    fail(cert.string() + " does not exist ([tls] cert and key name files that must exist; without them a "
                         "self-signed certificate is generated in data_dir/tls/)");
  } else if (!have_cert && !have_key) {
    generate_self_signed(cert, key, hostname);
    log::Event("tls_generated").add("cert", cert.string()).add("key", key.string());
  } else if (!have_cert || !have_key) {
    fail((have_cert ? key : cert).string() + " is missing (certificate and key go together)");
  }
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                   asio::ssl::context::single_dh_use);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1) fail("no usable TLS 1.2 cipher");
  SSL_CTX_set_dh_auto(native, 1);  // DHE with RFC 7919 groups, for RSA keys of clients without ECDHE
  asio::error_code ec;
  ctx->use_certificate_chain_file(cert.string(), ec);
  if (ec) fail("cannot load certificate " + cert.string() + ": " + ec.message());
  ctx->use_private_key_file(key.string(), asio::ssl::context::pem, ec);
  if (ec) fail("cannot load key " + key.string() + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) fail("key " + key.string() + " does not match " + cert.string());
  return ctx;
}

}  // namespace postern::server
