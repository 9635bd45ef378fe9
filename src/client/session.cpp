#include "client/session.hpp"

#include "sasl/tls_binding.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>

#include "client/message.hpp"
#include "util/strings.hpp"

namespace postern::client {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
using Dir = TranscriptLine::Direction;

std::string local_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
  std::string name(buf);
  // RFC 5321 §4.1.4: the EHLO argument is a domain or an address literal;
  // a bare host name without dots is still the best we know.
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return "localhost";
  return name;
}

bool is_ip_literal(const std::string& host) {
  asio::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

bool needs_smtputf8(const Transaction& t) {
  if (has_8bit(t.reverse_path)) return true;
  for (auto& r : t.recipients)
    if (has_8bit(r)) return true;
  return false;
}

}  // namespace

// ---------------------------------------------------------------- Error, Delivery

bool Error::temporary() const {
  switch (kind) {
    case Kind::refused:
    case Kind::timeout:
    case Kind::dropped:
      return true;
    case Kind::resolve:
      return temporary_dns;
    case Kind::reply:
    case Kind::auth:
      return reply && reply->temporary();
    default:
      return false;
  }
}

// ---------------------------------------------------------------- Session

Session::Session(asio::any_io_executor executor, Options options)
    : executor_(executor),
      options_(std::move(options)),
      resolver_(executor),
      stream_(asio::ip::tcp::socket(executor)),
      // When a wait passes its deadline, the lookup or the socket is closed
      // under it so that it completes with an error.
      deadline_(executor,
                [this] {
                  resolver_.cancel();
                  stream_.close();
                }),
      dialogue_(smtp::ClientDialogue::Limits{options_.max_reply_line_octets, options_.max_reply_lines}) {
  if (options_.server_name.empty()) options_.server_name = options_.host;
  if (options_.helo_name.empty()) options_.helo_name = local_host_name();
  init_tls_context();
}

Session::~Session() = default;

void Session::init_tls_context() {
  if (options_.tls_context) {
    tls_context_ = options_.tls_context;
    return;
  }
  tls_context_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* ctx = tls_context_->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Trust anchors are loaded at the first handshake (loading the system
  // store is slow, and clear-text sessions never need it).
  tls_context_->set_verify_mode(options_.verify_certificate ? asio::ssl::verify_peer : asio::ssl::verify_none);
  own_context_ = true;
}

void Session::load_trust() {
  if (!own_context_ || trust_loaded_ || !options_.verify_certificate) return;
  trust_loaded_ = true;
  asio::error_code ec;
  if (!options_.ca_file.empty())
    tls_context_->load_verify_file(options_.ca_file, ec);
  else
    tls_context_->set_default_verify_paths(ec);
  // A bad CA file shows up as a verification failure at the handshake;
  // the CLI checks the file is readable before it gets here.
}

void Session::emit(Dir d, std::string text, std::string note) {
  if (options_.transcript) options_.transcript(TranscriptLine{d, std::move(text), std::move(note)});
}

std::string Session::peer() const {
  if (peer_.port() == 0) return {};
  auto a = peer_.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(peer_.port());
}

std::string Session::tls_description() const { return stream_.tls_description(); }

Error Session::io_error(const asio::error_code& ec, std::string_view doing) const {
  if (deadline_.expired())
    return Error{Error::Kind::timeout, "timed out " + std::string(doing), std::nullopt};
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == asio::ssl::error::stream_truncated || ec == asio::error::bad_descriptor ||
      ec == asio::error::operation_aborted)
    return Error{Error::Kind::dropped, "the server closed the connection while " + std::string(doing), std::nullopt};
  return Error{Error::Kind::dropped, "connection failed while " + std::string(doing) + ": " + ec.message(), std::nullopt};
}

asio::awaitable<std::optional<Error>> Session::open() {
  std::optional<Error> e;
  if (options_.unix_path.empty())
    e = co_await connect();
  else
    e = co_await connect_unix();
  if (e) co_return e;
  if (options_.tls == TlsMode::implicit)
    if (auto e = co_await handshake()) co_return e;
  using Want = smtp::ClientDialogue::TlsWant;
  const Want want = options_.tls == TlsMode::starttls    ? Want::required
                    : options_.tls == TlsMode::automatic ? Want::if_offered
                                                         : Want::never;
  if (options_.lmtp)
    dialogue_.open_lmtp(options_.helo_name, want);
  else
    dialogue_.open(options_.helo_name, want);
  co_return co_await drive();
}

asio::awaitable<std::optional<Error>> Session::connect() {
  deadline_.arm(options_.connect_timeout);
  auto [rec, results] = co_await resolver_.async_resolve(options_.host, options_.port, use_tuple);
  deadline_.disarm();
  bool fired = deadline_.expired();
  if (fired) co_return Error{Error::Kind::timeout, "timed out looking up " + options_.host, std::nullopt};
  if (rec) {
    Error e{Error::Kind::resolve, "cannot resolve " + options_.host + ": " + rec.message(), std::nullopt};
    e.temporary_dns = rec != asio::error::host_not_found && rec != asio::error::service_not_found;
    co_return e;
  }
  Error last{Error::Kind::refused, "no address for " + options_.host, std::nullopt};
  for (const auto& entry : results) {
    auto ep = entry.endpoint();
    auto& sock = stream_.socket();
    asio::error_code ignored;
    sock.close(ignored);
    deadline_.arm(options_.connect_timeout);
    auto [ec] = co_await sock.async_connect(ep, use_tuple);
    deadline_.disarm();
    fired = deadline_.expired();
    std::string where = (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) + ":" +
                        std::to_string(ep.port());
    if (!ec && !fired) {
      peer_ = ep;
      sock.set_option(asio::ip::tcp::no_delay(true), ignored);
      emit(Dir::info, "connected to " + where);
      co_return std::nullopt;
    }
    if (fired)
      last = Error{Error::Kind::timeout, "timed out connecting to " + where, std::nullopt};
    else if (ec == asio::error::connection_refused)
      last = Error{Error::Kind::refused, "connection to " + where + " refused", std::nullopt};
    else
      last = Error{Error::Kind::refused, "cannot connect to " + where + ": " + ec.message(), std::nullopt};
    emit(Dir::info, last.message);
  }
  co_return last;
}

// An LMTP server's unix socket (RFC 2033 §5). The connected descriptor is
// then carried by the same stream as a TCP connection: reads and writes on
// a stream socket are the same calls whatever its family.
asio::awaitable<std::optional<Error>> Session::connect_unix() {
  const std::string& path = options_.unix_path;
  auto sock = std::make_shared<asio::local::stream_protocol::socket>(executor_);
  auto fired = std::make_shared<bool>(false);
  asio::local::stream_protocol::endpoint ep;
  try {
    ep = asio::local::stream_protocol::endpoint(path);
  } catch (const std::exception&) {
    co_return Error{Error::Kind::refused, "socket path too long: " + path, std::nullopt};
  }
  // The deadline's action closes the TCP stream; this socket is closed by hand.
  asio::steady_timer timer(executor_);
  timer.expires_after(options_.connect_timeout);
  timer.async_wait([sock, fired](asio::error_code ec) {
    if (ec) return;
    *fired = true;
    asio::error_code ignored;
    sock->close(ignored);
  });
  auto [ec] = co_await sock->async_connect(ep, use_tuple);
  timer.cancel();
  if (*fired) co_return Error{Error::Kind::timeout, "timed out connecting to " + path, std::nullopt};
  if (ec) {
    Error e{Error::Kind::refused, "cannot connect to " + path + ": " + ec.message(), std::nullopt};
    emit(Dir::info, e.message);
    co_return e;
  }
  asio::error_code aec;
  stream_.socket().assign(asio::ip::tcp::v4(), sock->release(), aec);
  if (aec) co_return Error{Error::Kind::refused, "cannot use " + path + ": " + aec.message(), std::nullopt};
  emit(Dir::info, "connected to " + path);
  co_return std::nullopt;
}

asio::awaitable<std::optional<Error>> Session::handshake() {
  load_trust();
  SSL* ssl = stream_.begin_tls(tls_context_);
  const std::string& name = options_.server_name;
  if (!is_ip_literal(name)) SSL_set_tlsext_host_name(ssl, name.c_str());  // SNI, RFC 6066 §3: names only
  if (options_.verify_certificate) {
    // RFC 6125: the certificate must name the host we meant to reach.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip_literal(name))
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    else
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  }
  deadline_.arm(options_.command_timeout);
  auto ec = co_await stream_.handshake(asio::ssl::stream_base::client);
  deadline_.disarm();
  if (deadline_.expired()) co_return Error{Error::Kind::timeout, "timed out in the TLS handshake", std::nullopt};
  if (ec) {
    long vr = SSL_get_verify_result(ssl);
    if (options_.verify_certificate && vr != X509_V_OK)
      co_return Error{Error::Kind::certificate,
                      "the server's certificate did not verify for " + name + ": " + X509_verify_cert_error_string(vr),
                      std::nullopt};
    if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated)
      co_return Error{Error::Kind::dropped, "the server closed the connection during the TLS handshake", std::nullopt};
    co_return Error{Error::Kind::tls, "TLS handshake failed: " + ec.message(), std::nullopt};
  }
  // Channel binding for SCRAM-*-PLUS: RFC 9266 on TLS 1.3, RFC 5929 before.
  bindings_ = sasl::channel_bindings(ssl, false);
  std::string verified = options_.verify_certificate ? "certificate verified for " + name : "certificate not checked (--insecure)";
  emit(Dir::info, "TLS established: " + tls_description() + ", " + verified);
  co_return std::nullopt;
}

// ---------------------------------------------------------------- the dialogue's I/O

namespace {

Error failure_error(const smtp::ClientFailure& f) {
  using F = smtp::ClientFailure::Kind;
  using K = Error::Kind;
  K kind = f.kind == F::protocol ? K::protocol
           : f.kind == F::reply  ? K::reply
           : f.kind == F::no_tls ? K::no_tls
           : f.kind == F::auth   ? K::auth
                                 : K::unsupported;
  return Error{kind, f.message, f.reply};
}

}  // namespace

asio::awaitable<std::optional<Error>> Session::drive(SaslMechanism* mechanism) {
  using Kind = smtp::ClientEvent::Kind;
  using Timer = smtp::ClientEvent::Timer;
  for (;;) {
    auto event = dialogue_.next();
    switch (event.kind) {
      case Kind::write: {
        for (auto& line : event.shown) emit(Dir::client, std::move(line));
        auto e = co_await write(event.wire);
        if (e) co_return e;
        break;
      }
      case Kind::need_input: {
        auto timeout = event.timer == Timer::data      ? options_.data_timeout
                       : event.timer == Timer::goodbye ? std::chrono::seconds(10)
                                                       : options_.command_timeout;
        auto e = co_await read(timeout);
        if (e) co_return e;
        break;
      }
      case Kind::line:
        emit(Dir::server, std::move(event.text), std::move(event.note));
        break;
      case Kind::info:
        emit(Dir::info, std::move(event.text));
        break;
      case Kind::start_tls: {
        auto e = co_await handshake();
        if (e) co_return e;
        dialogue_.tls_started();
        break;
      }
      case Kind::challenge: {
        if (mechanism == nullptr) {
          dialogue_.cancel("a challenge outside AUTH");
          break;
        }
        auto s = mechanism->step(event.text);
        if (s.status == SaslMechanism::Step::Status::failed)
          dialogue_.cancel(mechanism->name() + ": " + s.error);
        else
          dialogue_.answer(smtp::SaslAnswer{std::move(s.output), s.secret, std::move(s.shown)});
        break;
      }
      case Kind::done:
        co_return std::nullopt;
      case Kind::failed:
        co_return failure_error(dialogue_.failure());
      case Kind::idle:
        co_return Error{Error::Kind::protocol, "no operation under way", std::nullopt};
    }
  }
}

asio::awaitable<std::optional<Error>> Session::write(std::string_view wire) {
  deadline_.arm(options_.command_timeout);
  auto ec = co_await stream_.write(asio::buffer(wire.data(), wire.size()));
  deadline_.disarm();
  if (ec || deadline_.expired()) co_return io_error(ec, "sending");
  co_return std::nullopt;
}

asio::awaitable<std::optional<Error>> Session::read(std::chrono::seconds timeout) {
  auto room = dialogue_.prepare(4096);
  deadline_.arm(timeout);
  auto [ec, n] = co_await stream_.read_some(asio::buffer(room.data(), room.size()));
  dialogue_.commit(n);
  deadline_.disarm();
  if (ec || deadline_.expired()) {
    if (!dialogue_.buffered().empty())
      emit(Dir::server, util::printable(dialogue_.buffered(), 200), "(incomplete line)");
    co_return io_error(ec, "waiting for a reply");
  }
  co_return std::nullopt;
}

// ---------------------------------------------------------------- operations

asio::awaitable<std::optional<Error>> Session::reset() {
  dialogue_.reset();
  co_return co_await drive();
}

asio::awaitable<std::optional<Error>> Session::send(const Transaction& t, Delivery& out) {
  smtp::Outbound message;
  message.reverse_path = t.reverse_path;
  message.recipients = t.recipients;
  message.data = dot_stuff(t.message);
  message.message_octets = t.message.size();
  message.eight_bit = has_8bit(t.message);
  message.smtputf8 = needs_smtputf8(t);
  dialogue_.send(std::move(message));
  auto e = co_await drive();
  out = dialogue_.delivery();
  co_return e;
}

asio::awaitable<std::optional<Error>> Session::verify(const Transaction& t, Delivery& out) {
  smtp::Outbound message;
  message.reverse_path = t.reverse_path;
  message.recipients = t.recipients;
  message.smtputf8 = needs_smtputf8(t);
  dialogue_.verify(std::move(message));
  auto e = co_await drive();
  out = dialogue_.delivery();
  co_return e;
}

asio::awaitable<std::optional<Error>> Session::authenticate(SaslMechanism& m, bool allow_cleartext) {
  if (!stream_.tls() && !allow_cleartext)
    co_return Error{Error::Kind::cleartext,
                    "refusing to send credentials over a connection without TLS (the server did not offer STARTTLS)",
                    std::nullopt};
  std::optional<smtp::SaslAnswer> initial;
  if (m.client_first()) {
    auto s = m.step({});
    if (s.status == SaslMechanism::Step::Status::failed)
      co_return Error{Error::Kind::auth, m.name() + ": " + s.error, std::nullopt};
    initial = smtp::SaslAnswer{std::move(s.output), s.secret, std::move(s.shown)};
  }
  dialogue_.authenticate(m.name(), std::move(initial));
  if (auto e = co_await drive(&m)) co_return e;
  if (!m.complete())
    // RFC 5802 §9: without the server's signature we do not know we
    // talked to a server that knows the password.
    co_return Error{Error::Kind::auth, "the server accepted without proving its identity (no SCRAM server signature)",
                    dialogue_.last_reply()};
  co_return std::nullopt;
}

asio::awaitable<void> Session::quit() {
  if (stream_.socket().is_open()) {
    dialogue_.quit();
    co_await drive();
  }
  close();
}

void Session::close() {
  stream_.close();
}

}  // namespace postern::client
