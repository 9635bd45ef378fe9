#include "probe/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace postern::probe {

struct Connection::Tls {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  ~Tls() {
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }
};

namespace {

constexpr std::size_t max_reply_lines = 256;
constexpr std::size_t max_line_octets = 4096;

bool connect_with_timeout(int fd, const sockaddr* sa, socklen_t len, std::chrono::seconds timeout, int& err) {
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (::connect(fd, sa, len) != 0) {
    if (errno != EINPROGRESS) {
      err = errno;
      return false;
    }
    pollfd p{fd, POLLOUT, 0};
    int n = poll(&p, 1, static_cast<int>(timeout.count() * 1000));
    if (n <= 0) {
      err = n == 0 ? ETIMEDOUT : errno;
      return false;
    }
    socklen_t sl = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
    if (err != 0) return false;
  }
  fcntl(fd, F_SETFL, flags);
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return true;
}

// SHA-256 of an object's DER encoding, lower-case hex; empty on failure.
template <typename Encode, typename T>
std::string der_sha256(Encode encode, T* object) {
  unsigned char* der = nullptr;
  const int length = encode(object, &der);
  if (length <= 0) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const bool ok = EVP_Digest(der, static_cast<std::size_t>(length), digest, &size, EVP_sha256(), nullptr) == 1;
  OPENSSL_free(der);
  if (!ok) return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) out += {hex[digest[i] >> 4], hex[digest[i] & 15]};
  return out;
}

std::string asn1_time_iso(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return {};
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Connection::Connection() = default;
Connection::~Connection() { close(); }

void Connection::close() {
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool Connection::open(const std::vector<std::string>& addresses, std::uint16_t port, std::chrono::seconds timeout,
                      std::string& address, std::string& error, bool& temporary) {
  close();
  temporary = true;
  error = "no address";
  for (const auto& a : addresses) {
    address = a;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(a.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (rc != 0) {
      error = a + ": " + gai_strerror(rc);
      temporary = rc == EAI_AGAIN;
      continue;
    }
    for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      int err = 0;
      if (connect_with_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout, err)) {
        char host[NI_MAXHOST] = "";
        getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
        address = host;
        error.clear();
        fd_ = fd;
        freeaddrinfo(res);
        return true;
      }
      ::close(fd);
      error = a + ":" + std::to_string(port) + ": " + std::strerror(err);
      temporary = true;
    }
    freeaddrinfo(res);
  }
  return false;
}

bool Connection::write(std::string_view octets) {
  while (!octets.empty()) {
    long n = tls_ ? SSL_write(tls_->ssl, octets.data(), static_cast<int>(octets.size()))
                  : ::send(fd_, octets.data(), octets.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      error_ = "write failed";
      return false;
    }
    octets.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

long Connection::receive(char* data, std::size_t size) {
  if (tls_) return SSL_read(tls_->ssl, data, static_cast<int>(size));
  return ::recv(fd_, data, size, 0);
}

std::optional<smtp::Reply> Connection::read_reply() {
  smtp::ReplyParser parser;
  std::size_t lines = 0;
  for (;;) {
    auto eol = buffer_.find('\n');
    if (eol == std::string::npos) {
      if (buffer_.size() > max_line_octets) {
        error_ = "reply line too long";
        return std::nullopt;
      }
      char chunk[4096];
      long n = receive(chunk, sizeof chunk);
      if (n <= 0) {
        bool timeout = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        error_ = timeout ? "no reply before the deadline" : "the server closed the connection";
        return std::nullopt;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    std::string line = buffer_.substr(0, eol);
    buffer_.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (++lines > max_reply_lines) {
      error_ = "reply too long";
      return std::nullopt;
    }
    auto reply = parser.feed(line);
    if (parser.failed()) {
      error_ = parser.error() + ": " + line.substr(0, 200);
      return std::nullopt;
    }
    if (reply) return reply;
  }
}

std::optional<smtp::Reply> Connection::command(std::string_view line) {
  if (!write(std::string(line) + "\r\n")) return std::nullopt;
  return read_reply();
}

bool Connection::start_tls(const std::string& name, TlsResult& out) {
  auto tls = std::make_unique<Tls>();
  tls->ctx = SSL_CTX_new(TLS_client_method());
  if (tls->ctx == nullptr) {
    out.error = "cannot create a TLS context";
    return false;
  }
  // Old versions too: the probe reports them instead of failing on them.
  SSL_CTX_set_min_proto_version(tls->ctx, 0);
  SSL_CTX_set_security_level(tls->ctx, 0);
  SSL_CTX_set_default_verify_paths(tls->ctx);
  SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_NONE, nullptr);
  tls->ssl = SSL_new(tls->ctx);
  SSL_set_fd(tls->ssl, fd_);
  in6_addr ip6{};
  in_addr ip4{};
  bool literal = inet_pton(AF_INET, name.c_str(), &ip4) == 1 || inet_pton(AF_INET6, name.c_str(), &ip6) == 1;
  if (literal) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl), name.c_str());
  } else {
    SSL_set_tlsext_host_name(tls->ssl, name.c_str());
    SSL_set1_host(tls->ssl, name.c_str());
  }
  ERR_clear_error();
  if (SSL_connect(tls->ssl) != 1) {
    unsigned long e = ERR_get_error();
    char buf[256] = "handshake failed";
    if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
    out.error = std::string("TLS handshake: ") + buf;
    return false;
  }
  out.ok = true;
  out.version = SSL_get_version(tls->ssl);
  out.cipher = SSL_get_cipher_name(tls->ssl);
  long verify = SSL_get_verify_result(tls->ssl);
  out.verified = verify == X509_V_OK;
  if (!out.verified) out.verify_error = X509_verify_cert_error_string(verify);
  if (X509* cert = SSL_get1_peer_certificate(tls->ssl)) {
    char subject[512] = "";
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    out.subject = subject;
    const ASN1_TIME* not_after = X509_get0_notAfter(cert);
    out.not_after = asn1_time_iso(not_after);
    int days = 0, seconds = 0;
    if (ASN1_TIME_diff(&days, &seconds, nullptr, not_after) == 1) out.days_left = days;
    out.spki_sha256 = der_sha256(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(cert));
    out.cert_sha256 = der_sha256(i2d_X509, cert);
    X509_free(cert);
  } else {
    out.verified = false;
    out.verify_error = "no certificate";
  }
  tls_ = std::move(tls);
  buffer_.clear();
  return true;
}

}  // namespace postern::probe
