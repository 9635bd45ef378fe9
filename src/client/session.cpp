#include "client/session.hpp"

#include "sasl/tls_binding.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>

#include "client/message.hpp"
#include "sasl/base64.hpp"
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

std::optional<smtp::Reply> Delivery::outcome(std::size_t i) const {
  if (mail && !mail->positive()) return mail;
  if (i < rcpt.size() && rcpt[i] && !rcpt[i]->positive()) return rcpt[i];
  if (i >= rcpt.size() || !rcpt[i]) return std::nullopt;
  return data;
}

bool Delivery::delivered(std::size_t i) const {
  auto o = outcome(i);
  return o && o->code >= 200 && o->code < 300 && data && data->code >= 200 && data->code < 300;
}

bool Delivery::all_delivered() const {
  for (std::size_t i = 0; i < rcpt.size(); ++i)
    if (!delivered(i)) return false;
  return !rcpt.empty();
}

// ---------------------------------------------------------------- deadlines

// The deadline of the current I/O operation. When it passes, the socket is
// closed so every pending operation completes with an error; `fired` tells
// the caller that this was a timeout. The handler may run after the Session
// is gone, so it reaches the session only through this shared block.
struct Session::Watch {
  explicit Watch(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  std::uint64_t generation = 0;
  bool fired = false;
  Session* session = nullptr;
};

void Session::arm(std::chrono::seconds timeout) {
  auto w = watch_;
  w->fired = false;
  std::uint64_t g = ++w->generation;
  w->timer.expires_after(timeout);
  w->timer.async_wait([w, g](const asio::error_code& ec) {
    if (ec || w->session == nullptr || w->generation != g) return;
    w->fired = true;
    w->session->resolver_.cancel();
    asio::error_code ignored;
    w->session->stream_.close();
  });
}

bool Session::disarm() {
  ++watch_->generation;
  watch_->timer.cancel();
  return watch_->fired;
}

// ---------------------------------------------------------------- Session

Session::Session(asio::any_io_executor executor, Options options)
    : executor_(executor),
      options_(std::move(options)),
      resolver_(executor),
      stream_(asio::ip::tcp::socket(executor)),
      reader_(options_.max_reply_line_octets + 2),
      watch_(std::make_shared<Watch>(executor)) {
  watch_->session = this;
  if (options_.server_name.empty()) options_.server_name = options_.host;
  if (options_.helo_name.empty()) options_.helo_name = local_host_name();
  init_tls_context();
}

Session::~Session() {
  watch_->session = nullptr;
  asio::error_code ignored;
  watch_->timer.cancel();
}

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
  if (watch_->fired)
    return Error{Error::Kind::timeout, "timed out " + std::string(doing), std::nullopt};
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == asio::ssl::error::stream_truncated || ec == asio::error::bad_descriptor ||
      ec == asio::error::operation_aborted)
    return Error{Error::Kind::dropped, "the server closed the connection while " + std::string(doing), std::nullopt};
  return Error{Error::Kind::dropped, "connection failed while " + std::string(doing) + ": " + ec.message(), std::nullopt};
}

asio::awaitable<std::optional<Error>> Session::open() {
  if (auto e = co_await connect()) co_return e;
  if (options_.tls == TlsMode::implicit)
    if (auto e = co_await handshake()) co_return e;
  if (auto e = co_await read_reply(greeting_, options_.command_timeout)) co_return e;
  if (greeting_.code != 220) {
    // RFC 5321 §3.1: 554 instead of 220 means "no service here".
    co_return Error{Error::Kind::reply, "the server refused the session", greeting_};
  }
  if (auto e = co_await ehlo()) co_return e;
  bool want_tls = options_.tls == TlsMode::starttls || (options_.tls == TlsMode::automatic && caps_.starttls);
  if (want_tls) {
    if (!caps_.starttls)
      co_return Error{Error::Kind::no_tls, "the server does not offer STARTTLS", std::nullopt};
    if (auto e = co_await starttls()) co_return e;
  }
  open_ = true;
  co_return std::nullopt;
}

asio::awaitable<std::optional<Error>> Session::connect() {
  arm(options_.connect_timeout);
  auto [rec, results] = co_await resolver_.async_resolve(options_.host, options_.port, use_tuple);
  bool fired = disarm();
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
    arm(options_.connect_timeout);
    auto [ec] = co_await sock.async_connect(ep, use_tuple);
    fired = disarm();
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
  arm(options_.command_timeout);
  auto ec = co_await stream_.handshake(asio::ssl::stream_base::client);
  bool fired = disarm();
  if (fired) co_return Error{Error::Kind::timeout, "timed out in the TLS handshake", std::nullopt};
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

asio::awaitable<std::optional<Error>> Session::ehlo() {
  smtp::Reply r;
  if (auto e = co_await command("EHLO " + options_.helo_name)) co_return e;
  if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
  if (r.code == 250) {
    caps_ = parse_capabilities(r);
    co_return std::nullopt;
  }
  if (r.code == 421 || r.temporary()) co_return Error{Error::Kind::reply, "the server refused EHLO", r};
  // RFC 5321 §3.2: a server that does not know EHLO answers 5xx; fall back to HELO.
  if (auto e = co_await command("HELO " + options_.helo_name)) co_return e;
  if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
  if (r.code != 250) co_return Error{Error::Kind::reply, "the server refused EHLO and HELO", r};
  caps_ = Capabilities{};
  co_return std::nullopt;
}

asio::awaitable<std::optional<Error>> Session::starttls() {
  smtp::Reply r;
  if (auto e = co_await command("STARTTLS")) co_return e;
  if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
  if (r.code != 220) {
    if (options_.tls == TlsMode::starttls || r.code == 421)
      co_return Error{Error::Kind::no_tls, "the server refused STARTTLS", r};
    emit(Dir::info, "STARTTLS refused; going on without TLS");
    co_return std::nullopt;
  }
  // Anything the server sent after its 220 would be read as if it came
  // through TLS: a response injection (the client side of CVE-2011-0411).
  if (reader_.has_buffered())
    co_return Error{Error::Kind::protocol, "the server sent data after its 220 reply to STARTTLS", std::nullopt};
  if (auto e = co_await handshake()) co_return e;
  // RFC 3207 §4.2: forget everything learnt before TLS and say EHLO again.
  co_return co_await ehlo();
}

asio::awaitable<std::optional<Error>> Session::write(std::string_view wire) {
  arm(options_.command_timeout);
  auto ec = co_await stream_.write(asio::buffer(wire.data(), wire.size()));
  disarm();
  if (ec || watch_->fired) co_return io_error(ec, "sending");
  co_return std::nullopt;
}

asio::awaitable<std::optional<Error>> Session::command(std::string_view line, std::string shown) {
  emit(Dir::client, shown.empty() ? std::string(line) : std::move(shown));
  std::string wire(line);
  wire += "\r\n";
  co_return co_await write(wire);
}

asio::awaitable<std::optional<Error>> Session::read_line(std::string& line, std::chrono::seconds timeout) {
  for (;;) {
    auto r = reader_.next();
    if (r.status == smtp::LineReader::Status::line) {
      line.assign(r.line);
      co_return std::nullopt;
    }
    if (r.status == smtp::LineReader::Status::too_long) break;
    arm(timeout);
    auto room = reader_.prepare(4096);
    auto [ec, n] = co_await stream_.read_some(asio::buffer(room.data(), room.size()));
    reader_.commit(n);
    disarm();
    if (ec || watch_->fired) {
      if (reader_.has_buffered()) emit(Dir::server, util::printable(reader_.buffered(), 200), "(incomplete line)");
      co_return io_error(ec, "waiting for a reply");
    }
  }
  co_return Error{Error::Kind::protocol,
                  "reply line longer than " + std::to_string(options_.max_reply_line_octets) + " octets", std::nullopt};
}

asio::awaitable<std::optional<Error>> Session::read_reply(smtp::Reply& out, std::chrono::seconds timeout) {
  smtp::ReplyParser parser;
  for (std::size_t n = 0; n < options_.max_reply_lines; ++n) {
    std::string line;
    if (auto e = co_await read_line(line, timeout)) co_return e;
    std::string note;
    if (line.size() >= 4 && line.compare(0, 4, "334 ") == 0) {
      // RFC 4954 §4: the challenge is base64; show what it says.
      if (auto decoded = sasl::base64_decode(line.substr(4)))
        note = decoded->empty() ? "(empty challenge)" : "decoded: " + util::printable(*decoded, 400);
      else
        note = "(not valid base64)";
    }
    emit(Dir::server, util::printable(line, 1000), note);
    if (auto r = parser.feed(line)) {
      out = std::move(*r);
      co_return std::nullopt;
    }
    if (parser.failed())
      co_return Error{Error::Kind::protocol, parser.error() + ": \"" + util::printable(line, 100) + "\"", std::nullopt};
  }
  co_return Error{Error::Kind::protocol, "reply longer than " + std::to_string(options_.max_reply_lines) + " lines",
                  std::nullopt};
}

std::optional<Error> Session::expect(const smtp::Reply& r, int cls, std::string_view what) {
  if (r.code / 100 == cls) return std::nullopt;
  if (r.code == 421) return Error{Error::Kind::reply, "the server is closing the connection", r};
  if (r.code >= 400) return std::nullopt;  // a refusal: the caller records it
  return Error{Error::Kind::protocol, "unexpected reply to " + std::string(what), r};
}

asio::awaitable<std::optional<Error>> Session::reset() {
  smtp::Reply r;
  if (auto e = co_await command("RSET")) co_return e;
  if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
  if (r.code != 250) co_return Error{Error::Kind::reply, "the server refused RSET", r};
  co_return std::nullopt;
}

asio::awaitable<std::optional<Error>> Session::transaction_failed(Delivery&) {
  // The server still holds a transaction (or may); start clean for the next one.
  co_return co_await reset();
}

asio::awaitable<std::optional<Error>> Session::send(const Transaction& t, Delivery& out) {
  out = Delivery{};
  out.rcpt.assign(t.recipients.size(), std::nullopt);
  if (t.recipients.empty()) co_return Error{Error::Kind::unsupported, "no recipients", std::nullopt};

  bool utf8 = needs_smtputf8(t);
  if (utf8 && !caps_.smtputf8)
    // RFC 6531 §3.2: a non-ASCII address must not go to a server without SMTPUTF8.
    co_return Error{Error::Kind::unsupported,
                    "an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)", std::nullopt};

  std::string data = dot_stuff(t.message);
  std::string mail = "MAIL FROM:<" + t.reverse_path + ">";
  if (caps_.size) mail += " SIZE=" + std::to_string(data.size());  // RFC 1870 §6: an estimate is fine
  if (caps_.eightbitmime && has_8bit(t.message)) mail += " BODY=8BITMIME";  // RFC 6152
  if (utf8) mail += " SMTPUTF8";
  std::vector<std::string> rcpts;
  for (auto& r : t.recipients) rcpts.push_back("RCPT TO:<" + r + ">");

  auto accepted = [&] {
    for (auto& r : out.rcpt)
      if (r && r->positive()) return true;
    return false;
  };
  smtp::Reply r;

  if (caps_.pipelining) {
    // RFC 2920 §3.1: MAIL, every RCPT and DATA in one group; DATA is last.
    std::string wire;
    emit(Dir::client, mail);
    wire += mail + "\r\n";
    for (auto& c : rcpts) {
      emit(Dir::client, c);
      wire += c + "\r\n";
    }
    emit(Dir::client, "DATA");
    wire += "DATA\r\n";
    if (auto e = co_await write(wire)) co_return e;
    if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
    if (auto e = expect(r, 2, "MAIL")) co_return e;
    out.mail = r;
    for (std::size_t i = 0; i < rcpts.size(); ++i) {
      if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
      if (auto e = expect(r, 2, "RCPT")) co_return e;
      out.rcpt[i] = r;
    }
    if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
    if (auto e = expect(r, 3, "DATA")) co_return e;
    if (r.code != 354) {
      out.data = r;
      if (out.mail->positive() && accepted()) co_return co_await transaction_failed(out);
      co_return co_await transaction_failed(out);
    }
    if (!out.mail->positive() || !accepted()) {
      // RFC 2920 §3.1: DATA was accepted though nothing else was; send an
      // empty message so the server discards the transaction.
      emit(Dir::client, ".");
      if (auto e = co_await write(".\r\n")) co_return e;
      if (auto e = co_await read_reply(r, options_.data_timeout)) co_return e;
      co_return co_await transaction_failed(out);
    }
  } else {
    if (auto e = co_await command(mail)) co_return e;
    if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
    if (auto e = expect(r, 2, "MAIL")) co_return e;
    out.mail = r;
    if (!r.positive()) co_return co_await transaction_failed(out);
    for (std::size_t i = 0; i < rcpts.size(); ++i) {
      if (auto e = co_await command(rcpts[i])) co_return e;
      if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
      if (auto e = expect(r, 2, "RCPT")) co_return e;
      out.rcpt[i] = r;
    }
    if (!accepted()) co_return co_await transaction_failed(out);
    if (auto e = co_await command("DATA")) co_return e;
    if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
    if (auto e = expect(r, 3, "DATA")) co_return e;
    if (r.code != 354) {
      out.data = r;
      co_return co_await transaction_failed(out);
    }
  }

  emit(Dir::client, "(message: " + std::to_string(t.message.size()) + " octets)");
  emit(Dir::client, ".");
  if (auto e = co_await write(data)) co_return e;
  if (auto e = co_await read_reply(r, options_.data_timeout)) co_return e;
  if (auto e = expect(r, 2, "the end of DATA")) co_return e;
  out.data = r;
  co_return std::nullopt;
}

asio::awaitable<std::optional<Error>> Session::authenticate(SaslMechanism& m, bool allow_cleartext) {
  if (!stream_.tls() && !allow_cleartext)
    co_return Error{Error::Kind::cleartext,
                    "refusing to send credentials over a connection without TLS (the server did not offer STARTTLS)",
                    std::nullopt};
  using Status = SaslMechanism::Step::Status;
  const std::string name = m.name();
  auto fail_local = [&](std::string why) -> asio::awaitable<std::optional<Error>> {
    // RFC 4954 §4: "*" cancels the exchange; the server answers 501.
    smtp::Reply cancelled;
    if (!(co_await command("*")))
      co_await read_reply(cancelled, options_.command_timeout);
    co_return Error{Error::Kind::auth, std::move(why), std::nullopt};
  };

  smtp::Reply r;
  if (m.client_first()) {
    auto s = m.step({});
    if (s.status == Status::failed) co_return Error{Error::Kind::auth, name + ": " + s.error, std::nullopt};
    // RFC 4954 §4: "=" stands for an empty initial response.
    std::string ir = s.output.empty() ? "=" : sasl::base64_encode(s.output);
    std::string shown = "AUTH " + name + " " + (s.secret ? "<redacted>" : ir);
    if (!s.secret && !s.output.empty()) shown += "    [" + util::printable(s.output, 400) + "]";
    else if (s.secret && !s.shown.empty()) shown += "    [" + s.shown + "]";
    if (auto e = co_await command("AUTH " + name + " " + ir, shown)) co_return e;
  } else {
    if (auto e = co_await command("AUTH " + name)) co_return e;
  }

  for (int rounds = 0; rounds < 16; ++rounds) {
    if (auto e = co_await read_reply(r, options_.command_timeout)) co_return e;
    if (r.code != 334) break;
    auto challenge = sasl::base64_decode(util::trim(r.text()));
    if (!challenge) co_return co_await fail_local("the server's 334 challenge is not valid base64");
    auto s = m.step(*challenge);
    if (s.status == Status::failed) co_return co_await fail_local(name + ": " + s.error);
    std::string wire = sasl::base64_encode(s.output);
    std::string shown = s.secret ? "<redacted>" : wire;
    if (!s.secret && !s.output.empty()) shown += "    [" + util::printable(s.output, 400) + "]";
    else if (s.secret && !s.shown.empty()) shown += "    [" + s.shown + "]";
    if (auto e = co_await command(wire, shown)) co_return e;
  }
  if (r.code == 334) co_return Error{Error::Kind::protocol, "the server sent too many AUTH challenges", r};
  if (r.code == 235) {
    if (!m.complete())
      // RFC 5802 §9: without the server's signature we do not know we
      // talked to a server that knows the password.
      co_return Error{Error::Kind::auth, "the server accepted without proving its identity (no SCRAM server signature)", r};
    authenticated_ = true;
    co_return std::nullopt;
  }
  if (r.code == 421) co_return Error{Error::Kind::reply, "the server is closing the connection", r};
  co_return Error{Error::Kind::auth, "authentication with " + name + " failed", r};
}

asio::awaitable<void> Session::quit() {
  if (stream_.socket().is_open()) {
    if (!(co_await command("QUIT"))) {
      smtp::Reply r;
      co_await read_reply(r, std::chrono::seconds(10));
    }
  }
  close();
}

void Session::close() {
  stream_.close();
}

}  // namespace postern::client
