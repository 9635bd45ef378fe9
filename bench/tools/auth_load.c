/* auth_load: SMTP AUTH handshakes per second from one thread.
 *
 * Each handshake is a new TCP connection: 220 banner, EHLO (250),
 * [STARTTLS (220), TLS handshake, EHLO (250)], AUTH PLAIN (235) or
 * AUTH SCRAM-SHA-256 (334, 334 whose v= must be the server signature the
 * client computes, 235), QUIT (221). Any other reply, a closed connection
 * or a read that outlives --timeout is an error; the first few are printed
 * to stderr. Sessions run side by side on non-blocking sockets under one
 * epoll loop, so the client costs little CPU next to the server it drives.
 *
 * The last line on stdout is machine-readable:
 *   auth_load mech=PLAIN tls=none concurrency=20 seconds=10.003 handshakes=N
 *   errors=E per_second=R client_cpu_s=C client_user_s=U client_cpu_share=S
 *   scram_iterations=I
 * client_cpu_s is user + system time (getrusage), client_user_s the user part;
 * client_cpu_share is client_cpu_s over the wall time (1.0 = one core). Most
 * of it is the kernel's loopback TCP work (connect, segments, close), not
 * this program. The exit status is 1 when there was any error.
 *
 * Build: cc -O2 -o auth_load auth_load.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mech { MECH_PLAIN, MECH_SCRAM };

enum state {
  ST_CONNECT,
  ST_BANNER,
  ST_EHLO,
  ST_STARTTLS,
  ST_HANDSHAKE,
  ST_EHLO_TLS,
  ST_SCRAM_FIRST,
  ST_SCRAM_FINAL,
  ST_AUTH_DONE,
  ST_QUIT,
};

static const char *const state_names[] = {"connect", "banner", "EHLO", "STARTTLS", "TLS handshake",
                                          "EHLO after STARTTLS", "AUTH (server-first)",
                                          "AUTH (server-final)", "AUTH (235)", "QUIT"};

#define RBUF_SIZE 8192
#define WBUF_SIZE 2048
#define MAX_PRINTED_ERRORS 5
#define EHLO_LINE "EHLO bench.example.net\r\n"

struct conn {
  int fd;
  SSL *ssl;
  enum state st;
  int active;
  uint32_t events;
  double deadline;
  size_t rlen;
  size_t wlen, woff;
  char rbuf[RBUF_SIZE];
  char wbuf[WBUF_SIZE];
  char client_first_bare[720];
  char nonce[64];
  unsigned char server_signature[SHA256_DIGEST_LENGTH];
};

struct salted_keys {
  unsigned char salt[128];
  int salt_len;
  long iterations;
  unsigned char client_key[SHA256_DIGEST_LENGTH];
  unsigned char stored_key[SHA256_DIGEST_LENGTH];
  unsigned char server_key[SHA256_DIGEST_LENGTH];
};

static struct {
  const char *host, *port, *user, *password;
  enum mech mech;
  int starttls;
  int concurrency;
  double seconds, timeout;
  long count;
} opt = {"127.0.0.1", NULL, NULL, NULL, MECH_PLAIN, 0, 20, 10, 10, 0};

static struct addrinfo *target;
static SSL_CTX *tls_ctx;
static int epfd;
static char plain_line[1024];
static char scram_user[640];
static struct salted_keys key_cache[8];
static int key_cache_len;
static long handshakes, errors, started, active_conns;
static long last_iterations;
static int stopping;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("auth_load: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static size_t b64_encode(const unsigned char *in, size_t n, char *out) {
  return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Decodes strict base64 (no whitespace); returns the length or -1. */
static int b64_decode(const char *in, size_t n, unsigned char *out, size_t cap) {
  if (n % 4 != 0 || n / 4 * 3 > cap) return -1;
  if (n == 0) return 0;
  int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
  if (len < 0) return -1;
  if (in[n - 1] == '=') len--;
  if (in[n - 2] == '=') len--;
  return len;
}

static void finish(struct conn *c) {
  if (c->ssl) {
    SSL_shutdown(c->ssl); /* close_notify, without waiting for the peer's */
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->active = 0; /* the main loop starts the next session in its place */
  active_conns--;
}

static void fail(struct conn *c, const char *fmt, ...) {
  errors++;
  if (errors <= MAX_PRINTED_ERRORS) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "auth_load: error in %s: ", state_names[c->st]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
  }
  finish(c);
}

static void want(struct conn *c, uint32_t events) {
  if (c->events == events) return;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
  c->events = events;
}

static void start_conn(struct conn *c) {
  double t = now();
  if (stopping || (opt.count > 0 && started >= opt.count)) return;
  started++;
  memset(c, 0, offsetof(struct conn, rbuf));
  c->fd = socket(target->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->active = 1;
  active_conns++;
  c->deadline = t + opt.timeout;
  c->st = ST_CONNECT;
  int r = connect(c->fd, target->ai_addr, target->ai_addrlen);
  if (r != 0 && errno != EINPROGRESS) {
    c->st = ST_CONNECT;
    fail(c, "connect: %s", strerror(errno));
    return;
  }
  c->events = r == 0 ? EPOLLIN : EPOLLOUT;
  if (r == 0) c->st = ST_BANNER;
  struct epoll_event ev = {.events = c->events, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
}

static int queue(struct conn *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->wbuf, sizeof c->wbuf, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof c->wbuf) return -1;
  c->wlen = (size_t)n;
  c->woff = 0;
  return 0;
}

static const struct salted_keys *keys_for(const unsigned char *salt, int salt_len, long iterations) {
  for (int i = 0; i < key_cache_len; i++) {
    const struct salted_keys *k = &key_cache[i];
    if (k->iterations == iterations && k->salt_len == salt_len && memcmp(k->salt, salt, salt_len) == 0) return k;
  }
  /* RFC 5802 5.1: a client may keep SaltedPassword per salt and count. */
  struct salted_keys *k = &key_cache[key_cache_len < 8 ? key_cache_len++ : 7];
  unsigned char salted[SHA256_DIGEST_LENGTH];
  if (!PKCS5_PBKDF2_HMAC(opt.password, (int)strlen(opt.password), salt, salt_len, (int)iterations, EVP_sha256(),
                         sizeof salted, salted))
    die("PBKDF2 failed");
  unsigned int len;
  HMAC(EVP_sha256(), salted, sizeof salted, (const unsigned char *)"Client Key", 10, k->client_key, &len);
  HMAC(EVP_sha256(), salted, sizeof salted, (const unsigned char *)"Server Key", 10, k->server_key, &len);
  SHA256(k->client_key, sizeof k->client_key, k->stored_key);
  memcpy(k->salt, salt, salt_len);
  k->salt_len = salt_len;
  k->iterations = iterations;
  return k;
}

static void send_auth(struct conn *c) {
  if (opt.mech == MECH_PLAIN) {
    queue(c, "%s", plain_line);
    c->st = ST_AUTH_DONE;
    return;
  }
  unsigned char raw[18];
  if (RAND_bytes(raw, sizeof raw) != 1) die("RAND_bytes failed");
  b64_encode(raw, sizeof raw, c->nonce);
  snprintf(c->client_first_bare, sizeof c->client_first_bare, "n=%s,r=%s", scram_user, c->nonce);
  char msg[800], enc[1100];
  int n = snprintf(msg, sizeof msg, "n,,%s", c->client_first_bare);
  b64_encode((unsigned char *)msg, (size_t)n, enc);
  queue(c, "AUTH SCRAM-SHA-256 %s\r\n", enc);
  c->st = ST_SCRAM_FIRST;
}

/* The value of attribute `name` in a SCRAM message, or NULL. */
static const char *scram_attr(const char *msg, char name, size_t *len) {
  const char *p = msg;
  while (*p) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    if (end - p >= 2 && p[0] == name && p[1] == '=') {
      *len = (size_t)(end - p - 2);
      return p + 2;
    }
    p = *end ? end + 1 : end;
  }
  return NULL;
}

static void scram_server_first(struct conn *c, const char *b64) {
  unsigned char first[1024];
  int n = b64_decode(b64, strlen(b64), first, sizeof first - 1);
  if (n <= 0) return fail(c, "server-first-message is not base64: %s", b64);
  first[n] = 0;
  const char *msg = (const char *)first;
  size_t rlen, slen, ilen;
  const char *r = scram_attr(msg, 'r', &rlen), *s = scram_attr(msg, 's', &slen), *i = scram_attr(msg, 'i', &ilen);
  if (!r || !s || !i) return fail(c, "server-first-message lacks r, s or i: %s", msg);
  size_t nlen = strlen(c->nonce);
  if (rlen <= nlen || memcmp(r, c->nonce, nlen) != 0) return fail(c, "server nonce does not extend ours: %s", msg);
  long iterations = strtol(i, NULL, 10);
  if (iterations < 1 || iterations > 10000000) return fail(c, "bad iteration count: %s", msg);
  last_iterations = iterations;
  unsigned char salt[128];
  int salt_len = b64_decode(s, slen, salt, sizeof salt);
  if (salt_len <= 0) return fail(c, "bad salt: %s", msg);
  const struct salted_keys *k = keys_for(salt, salt_len, iterations);

  char without_proof[600];
  snprintf(without_proof, sizeof without_proof, "c=biws,r=%.*s", (int)rlen, r);
  char auth_message[2048];
  int alen = snprintf(auth_message, sizeof auth_message, "%s,%s,%s", c->client_first_bare, msg, without_proof);
  if (alen < 0 || (size_t)alen >= sizeof auth_message) return fail(c, "server-first-message too long");
  unsigned char client_signature[SHA256_DIGEST_LENGTH], proof[SHA256_DIGEST_LENGTH];
  unsigned int len;
  HMAC(EVP_sha256(), k->stored_key, sizeof k->stored_key, (unsigned char *)auth_message, (size_t)alen,
       client_signature, &len);
  for (size_t j = 0; j < sizeof proof; j++) proof[j] = k->client_key[j] ^ client_signature[j];
  HMAC(EVP_sha256(), k->server_key, sizeof k->server_key, (unsigned char *)auth_message, (size_t)alen,
       c->server_signature, &len);
  char proof64[64], final[700], final64[1000];
  b64_encode(proof, sizeof proof, proof64);
  int flen = snprintf(final, sizeof final, "%s,p=%s", without_proof, proof64);
  b64_encode((unsigned char *)final, (size_t)flen, final64);
  queue(c, "%s\r\n", final64);
  c->st = ST_SCRAM_FINAL;
}

static void scram_server_final(struct conn *c, const char *b64) {
  unsigned char final[512];
  int n = b64_decode(b64, strlen(b64), final, sizeof final - 1);
  if (n <= 0) return fail(c, "server-final-message is not base64: %s", b64);
  final[n] = 0;
  size_t vlen;
  const char *v = scram_attr((const char *)final, 'v', &vlen);
  unsigned char sig[64];
  int slen = v ? b64_decode(v, vlen, sig, sizeof sig) : -1;
  if (slen != SHA256_DIGEST_LENGTH || memcmp(sig, c->server_signature, SHA256_DIGEST_LENGTH) != 0)
    return fail(c, "server signature does not verify: %s", (const char *)final);
  queue(c, "\r\n");
  c->st = ST_AUTH_DONE;
}

static void expect_fail(struct conn *c, int expected, const char *reply) {
  fail(c, "expected %d, got: %s", expected, reply);
}

/* One complete reply has arrived: code, and its last line's text. */
static void handle_reply(struct conn *c, int code, const char *text, const char *whole) {
  switch (c->st) {
    case ST_BANNER:
      if (code != 220) return expect_fail(c, 220, whole);
      queue(c, EHLO_LINE);
      c->st = ST_EHLO;
      return;
    case ST_EHLO:
      if (code != 250) return expect_fail(c, 250, whole);
      if (opt.starttls) {
        queue(c, "STARTTLS\r\n");
        c->st = ST_STARTTLS;
      } else {
        send_auth(c);
      }
      return;
    case ST_STARTTLS:
      if (code != 220) return expect_fail(c, 220, whole);
      if (c->rlen != 0) return fail(c, "data after the 220 to STARTTLS");
      c->ssl = SSL_new(tls_ctx);
      if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) die("SSL_new failed");
      SSL_set_tlsext_host_name(c->ssl, "localhost");
      c->st = ST_HANDSHAKE;
      return;
    case ST_EHLO_TLS:
      if (code != 250) return expect_fail(c, 250, whole);
      send_auth(c);
      return;
    case ST_SCRAM_FIRST:
      if (code != 334) return expect_fail(c, 334, whole);
      return scram_server_first(c, text);
    case ST_SCRAM_FINAL:
      if (code != 334) return expect_fail(c, 334, whole);
      return scram_server_final(c, text);
    case ST_AUTH_DONE:
      if (code != 235) return expect_fail(c, 235, whole);
      queue(c, "QUIT\r\n");
      c->st = ST_QUIT;
      return;
    case ST_QUIT:
      if (code != 221) return expect_fail(c, 221, whole);
      handshakes++;
      finish(c);
      return;
    default:
      return fail(c, "unexpected reply: %s", whole);
  }
}

/* Takes one complete reply off rbuf: 1 if there was one, 0 if more is
 * needed, -1 (after fail) if it is malformed. */
static int take_reply(struct conn *c) {
  char *p = c->rbuf, *end = c->rbuf + c->rlen;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return 0;
    size_t len = (size_t)(nl - p);
    if (len > 0 && p[len - 1] == '\r') len--;
    if (len < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' ||
        (len > 3 && p[3] != ' ' && p[3] != '-')) {
      fail(c, "malformed reply line: %.*s", (int)len, p);
      return -1;
    }
    if (len == 3 || p[3] == ' ') {
      char whole[RBUF_SIZE];
      size_t wl = (size_t)(nl - c->rbuf);
      memcpy(whole, c->rbuf, wl);
      whole[wl] = 0;
      for (size_t i = 0; i < wl; i++)
        if (whole[i] == '\r' || whole[i] == '\n') whole[i] = ' ';
      char text[RBUF_SIZE];
      size_t tl = len > 4 ? len - 4 : 0;
      memcpy(text, p + 4, tl);
      text[tl] = 0;
      int code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
      size_t used = (size_t)(nl + 1 - c->rbuf);
      memmove(c->rbuf, nl + 1, c->rlen - used);
      c->rlen -= used;
      c->deadline = now() + opt.timeout;
      handle_reply(c, code, text, whole);
      return 1;
    }
    p = nl + 1;
  }
  return 0;
}

/* I/O on the socket or the TLS layer: >0 bytes, 0 for end of stream,
 * -1 when it would block (events to wait for in *ev), -2 on error. */
static ssize_t io(struct conn *c, int writing, void *buf, size_t n, uint32_t *ev) {
  if (c->ssl) {
    size_t done = 0;
    int ok = writing ? SSL_write_ex(c->ssl, buf, n, &done) : SSL_read_ex(c->ssl, buf, n, &done);
    if (ok) return (ssize_t)done;
    int err = SSL_get_error(c->ssl, 0);
    if (err == SSL_ERROR_WANT_READ) return *ev = EPOLLIN, -1;
    if (err == SSL_ERROR_WANT_WRITE) return *ev = EPOLLOUT, -1;
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;
    ERR_clear_error();
    return -2;
  }
  ssize_t r = writing ? send(c->fd, buf, n, MSG_NOSIGNAL) : recv(c->fd, buf, n, 0);
  if (r >= 0) return r;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return *ev = writing ? EPOLLOUT : EPOLLIN, -1;
  return -2;
}

static void drive(struct conn *c) {
  uint32_t ev = EPOLLIN;
  while (c->active) {
    if (c->st == ST_CONNECT) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) return fail(c, "connect: %s", strerror(err));
      c->st = ST_BANNER;
      continue;
    }
    if (c->woff < c->wlen) {
      ssize_t r = io(c, 1, c->wbuf + c->woff, c->wlen - c->woff, &ev);
      if (r == -1) return want(c, ev);
      if (r <= 0) return fail(c, "write: %s", r == 0 ? "closed" : strerror(errno));
      c->woff += (size_t)r;
      if (c->woff < c->wlen) continue;
      /* The reply cannot be there yet: wait for it rather than read in vain. */
      if (c->rlen == 0 && (!c->ssl || !SSL_has_pending(c->ssl))) return want(c, EPOLLIN);
      continue;
    }
    if (c->st == ST_HANDSHAKE) {
      int r = SSL_connect(c->ssl);
      if (r == 1) {
        queue(c, EHLO_LINE);
        c->st = ST_EHLO_TLS;
        continue;
      }
      int err = SSL_get_error(c->ssl, r);
      if (err == SSL_ERROR_WANT_READ) return want(c, EPOLLIN);
      if (err == SSL_ERROR_WANT_WRITE) return want(c, EPOLLOUT);
      unsigned long e = ERR_get_error();
      ERR_clear_error();
      return fail(c, "TLS handshake: %s", e ? ERR_error_string(e, NULL) : "connection closed");
    }
    int t = take_reply(c);
    if (t != 0) continue; /* handled (or failed: c->active tells) */
    if (c->rlen >= sizeof c->rbuf) return fail(c, "reply longer than %zu octets", sizeof c->rbuf);
    ssize_t r = io(c, 0, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, &ev);
    if (r == -1) return want(c, ev);
    if (r == 0) return fail(c, "connection closed by the server%s%.*s", c->rlen ? " after: " : "", (int)c->rlen, c->rbuf);
    if (r < 0) return fail(c, "read: %s", c->ssl ? "TLS error" : strerror(errno));
    c->rlen += (size_t)r;
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: auth_load --port PORT --user USER --password PASSWORD [--host 127.0.0.1]\n"
          "                 [--mech PLAIN|SCRAM-SHA-256] [--tls none|starttls] [--concurrency 20]\n"
          "                 [--seconds 10] [--timeout 10] [--count N]\n");
  exit(64);
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"host", required_argument, 0, 'h'},     {"port", required_argument, 0, 'p'},
      {"mech", required_argument, 0, 'm'},     {"tls", required_argument, 0, 't'},
      {"user", required_argument, 0, 'u'},     {"password", required_argument, 0, 'w'},
      {"concurrency", required_argument, 0, 'c'}, {"seconds", required_argument, 0, 's'},
      {"timeout", required_argument, 0, 'T'},  {"count", required_argument, 0, 'n'},
      {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (o) {
      case 'h': opt.host = optarg; break;
      case 'p': opt.port = optarg; break;
      case 'u': opt.user = optarg; break;
      case 'w': opt.password = optarg; break;
      case 'c': opt.concurrency = atoi(optarg); break;
      case 's': opt.seconds = atof(optarg); break;
      case 'T': opt.timeout = atof(optarg); break;
      case 'n': opt.count = atol(optarg); break;
      case 'm':
        if (strcmp(optarg, "PLAIN") == 0) opt.mech = MECH_PLAIN;
        else if (strcmp(optarg, "SCRAM-SHA-256") == 0) opt.mech = MECH_SCRAM;
        else usage();
        break;
      case 't':
        if (strcmp(optarg, "none") == 0) opt.starttls = 0;
        else if (strcmp(optarg, "starttls") == 0) opt.starttls = 1;
        else usage();
        break;
      default: usage();
    }
  }
  if (optind != argc || !opt.port || !opt.user || !opt.password || opt.concurrency < 1 || opt.concurrency > 10000 ||
      opt.seconds <= 0 || opt.timeout <= 0 || strlen(opt.user) > 200 || strlen(opt.password) > 200)
    usage();

  struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  int gai = getaddrinfo(opt.host, opt.port, &hints, &target);
  if (gai != 0) die("%s:%s: %s", opt.host, opt.port, gai_strerror(gai));

  tls_ctx = SSL_CTX_new(TLS_client_method());
  if (!tls_ctx) die("SSL_CTX_new failed");
  SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL); /* a benchmark against a self-signed loopback server */
  SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF); /* every session a full handshake */

  { /* AUTH PLAIN's initial response is the same every time */
    char raw[420], enc[600];
    size_t ul = strlen(opt.user), pl = strlen(opt.password);
    raw[0] = 0;
    memcpy(raw + 1, opt.user, ul);
    raw[1 + ul] = 0;
    memcpy(raw + 2 + ul, opt.password, pl);
    b64_encode((unsigned char *)raw, 2 + ul + pl, enc);
    snprintf(plain_line, sizeof plain_line, "AUTH PLAIN %s\r\n", enc);
  }
  { /* SCRAM saslname: ',' and '=' escaped (RFC 5802 5.1) */
    char *q = scram_user;
    for (const char *p = opt.user; *p; p++) {
      if (*p == ',') q += sprintf(q, "=2C");
      else if (*p == '=') q += sprintf(q, "=3D");
      else *q++ = *p;
    }
    *q = 0;
  }

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1: %s", strerror(errno));
  struct conn *conns = calloc((size_t)opt.concurrency, sizeof *conns);
  if (!conns) die("out of memory");

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  double start = now(), end = start + opt.seconds, hard_end = end + opt.timeout;
  for (int i = 0; i < opt.concurrency; i++) {
    conns[i].fd = -1;
    start_conn(&conns[i]);
  }
  struct epoll_event evs[256];
  while (active_conns > 0) {
    int n = epoll_wait(epfd, evs, 256, 50);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) drive(evs[i].data.ptr);
    double t = now();
    if (t >= end) stopping = 1;
    for (int i = 0; i < opt.concurrency; i++) {
      struct conn *c = &conns[i];
      if (c->active && t >= hard_end) fail(c, "still running %.1f s after the end", opt.timeout);
      else if (c->active && t >= c->deadline) fail(c, "no reply within %.1f s", opt.timeout);
      if (!c->active) start_conn(c);
    }
  }
  double elapsed = now() - start;
  getrusage(RUSAGE_SELF, &ru1);
  double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
               (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  double user = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
  printf("auth_load mech=%s tls=%s concurrency=%d seconds=%.3f handshakes=%ld errors=%ld per_second=%.1f "
         "client_cpu_s=%.3f client_user_s=%.3f client_cpu_share=%.3f scram_iterations=%ld\n",
         opt.mech == MECH_PLAIN ? "PLAIN" : "SCRAM-SHA-256", opt.starttls ? "starttls" : "none", opt.concurrency,
         elapsed, handshakes, errors, handshakes / elapsed, cpu, user, cpu / elapsed, last_iterations);
  freeaddrinfo(target);
  SSL_CTX_free(tls_ctx);
  free(conns);
  return errors ? 1 : 0;
}
