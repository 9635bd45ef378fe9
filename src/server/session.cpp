#include "server/session.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>

#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "server/auth.hpp"
#include "server/checks.hpp"
#include "server/intake.hpp"
#include "server/message_sink.hpp"
#include "server/received.hpp"
#include "server/server.hpp"
#include "smtp/data_decoder.hpp"
#include "smtp/replies.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

namespace postern::server {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
// One read from the socket: small, so 10,000 idle sessions stay cheap.
constexpr std::size_t read_chunk_octets = 4096;
// RFC 5321 §6.3: more Received: fields than this and the message is looping.
constexpr unsigned max_received_fields = 50;
// After a timeout or shutdown notice, how long the client gets to take our 421.
constexpr auto goodbye_grace = std::chrono::seconds(10);

std::string peer_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

// The mechanism name of an AUTH argument for the log, or "(invalid)":
// whatever follows it (an initial response, e.g. base64 of
// "\0user\0password") never reaches the log, whatever separates it.
std::string loggable_mechanism(std::string_view argument) {
  auto end = argument.find_first_of(" \t");
  auto name = argument.substr(0, end);
  // RFC 4422 §3.1: 1 to 20 of A-Z, 0-9, '-' and '_'.
  bool ok = !name.empty() && name.size() <= 20;
  for (char c : name)
    ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
  return ok ? std::string(name) : std::string("(invalid)");
}

}  // namespace

Session::Session(Server& server, asio::ip::tcp::socket socket, std::shared_ptr<const config::Config> config,
                 const config::Listener& listener)
    : server_(server),
      config_(std::move(config)),
      listener_(listener),
      stream_(std::move(socket)),
      reader_(smtp::max_any_line_octets),
      timer_(stream_.socket().get_executor()) {
  info_.id = util::random_hex(6);
  asio::error_code ec;
  auto remote = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    info_.peer_address = peer_text(remote.address());
    info_.peer_port = remote.port();
  }
  info_.local_address = listener.address;
  info_.role = listener.role;
  info_.config = config_.get();
  deadline_ = std::chrono::steady_clock::now() + config_->limits.command_timeout;
}

Session::~Session() = default;

asio::awaitable<void> Session::run() {
  using namespace asio::experimental::awaitable_operators;
  co_await (dialogue() && watchdog());
}

void Session::request_stop(bool force) {
  stop_requested_ = true;
  force_stop_ = force_stop_ || force;
  // An idle session is interrupted now; one in a transaction may finish
  // it (SPEC §2: every 250 stays honoured) unless the grace period is over.
  if (force_stop_ || (waiting_for_command_ && !transaction_)) stream_.cancel();
}

void Session::arm(std::chrono::steady_clock::duration timeout) {
  deadline_ = std::chrono::steady_clock::now() + timeout;
  if (deadline_ < timer_.expiry()) timer_.cancel();  // the watchdog re-reads deadline_
}

asio::awaitable<void> Session::watchdog() {
  while (!finished_) {
    timer_.expires_at(deadline_);
    co_await timer_.async_wait(use_tuple);
    if (finished_) break;
    if (std::chrono::steady_clock::now() < deadline_) continue;
    if (!timed_out_) {
      // Interrupt the pending read or write; the dialogue sends 421 4.4.2.
      timed_out_ = true;
      deadline_ = std::chrono::steady_clock::now() + goodbye_grace;
      stream_.cancel();
    } else {
      // The client does not even take the 421.
      stream_.close();
      deadline_ = std::chrono::steady_clock::time_point::max();
    }
  }
}

asio::awaitable<bool> Session::flush() {
  if (out_.empty()) co_return true;
  std::string pending;
  pending.swap(out_);
  auto ec = co_await stream_.write(asio::buffer(pending));
  co_return !ec;
}

asio::awaitable<bool> Session::fill() {
  if (timed_out_ || force_stop_) co_return false;
  if (stop_requested_ && waiting_for_command_ && !transaction_) co_return false;
  if (!reader_.has_buffered() && !stream_.tls()) {
    // Idle: wait without a buffer, allocate one when bytes are there.
    reader_.release_if_empty();
    if (auto ec = co_await stream_.wait_readable()) co_return false;
    if (timed_out_ || force_stop_) co_return false;
  }
  auto room = reader_.prepare(read_chunk_octets);
  auto [ec, n] = co_await stream_.read_some(asio::buffer(room.data(), room.size()));
  reader_.commit(n);
  co_return !ec;
}

asio::awaitable<bool> Session::send(const smtp::Reply& r) {
  queue_out(r);
  co_return co_await flush();
}

void Session::queue_out(const smtp::Reply& r) {
  if (auto* o = server_.observer()) o->server_reply(info_, r, std::exchange(cause_, {}));
  if (auto* m = server_.metrics())
    m->add("postern_smtp_replies_total", {{"code", std::to_string(r.code)}, {"enhanced", r.enhanced}});
  out_ += r.wire();
}

asio::awaitable<std::optional<Verdict>> Session::decide(Stage stage, std::string_view argument) {
  auto* admission = server_.admission();
  if (!admission) co_return std::nullopt;
  auto verdict = admission->decide(stage, info_, transaction_ ? &*transaction_ : nullptr, argument);
  if (verdict && verdict->delay.count() > 0) {
    co_await flush();  // what was answered before the delay is not held back by it
    asio::steady_timer t(executor());
    t.expires_after(verdict->delay);
    co_await t.async_wait(use_tuple);
  }
  co_return verdict;
}

Session::Next Session::act(const Verdict& v) {
  cause_ = v.cause;
  switch (v.action) {
    case Verdict::Action::drop:
      log::Event("dropped").add("session", info_.id).add("client", info_.peer_address);
      if (auto* o = server_.observer()) o->server_reply(info_, smtp::Reply(0, "", "(connection closed, no reply)"), v.cause);
      cause_.clear();
      out_.clear();
      return Next::close;
    case Verdict::Action::shutdown:
      reply(v.reply);
      return Next::close;
    case Verdict::Action::reply:
    case Verdict::Action::accept:
      reply(v.reply);
      break;
  }
  return Next::go_on;
}

asio::awaitable<Session::Line> Session::read_line(std::size_t max_octets) {
  reader_.set_limit(max_octets);
  for (;;) {
    auto r = reader_.next();
    if (r.status == smtp::LineReader::Status::line) {
      if (auto* o = server_.observer()) o->client_line(info_, r.line);
      co_return Line{Line::Status::line, std::string(r.line)};
    }
    if (r.status == smtp::LineReader::Status::too_long) co_return Line{Line::Status::too_long, {}};
    // Input ran dry: now the held (pipelined) replies go out (RFC 2920 §3.2).
    if (!co_await flush()) co_return Line{Line::Status::closed, {}};
    if (!co_await fill()) co_return Line{Line::Status::closed, {}};
  }
}

void Session::set_authenticated(std::string identity) {
  info_.auth_identity = std::move(identity);
  log::Event("auth").add("session", info_.id).add("client", info_.peer_address).add("user", info_.auth_identity);
}

void Session::reply(smtp::Reply r, std::string_view event) {
  // Count bad commands; the reply to the max_errors-th is 421 (SPEC §4).
  if (r.code >= 500) {
    ++errors_;
    const unsigned limit = config_->limits.max_errors;
    if (limit && errors_ >= limit) {
      log::Event("reject").add("session", info_.id).add("client", info_.peer_address).add("reply", r.summary());
      r = smtp::replies::too_many_errors();
    }
  }
  if (r.code == 421) closing_ = true;
  if (!event.empty() && (event != "reject" || r.code >= 400)) {
    log::Event(event)
        .add("session", info_.id)
        .add("client", info_.peer_address)
        .add("reply", r.summary());
  }
  queue_out(r);
}

void Session::reset_transaction() {
  transaction_.reset();
  body_.reset();
}

asio::awaitable<void> Session::dialogue() {
  struct Finish {
    Session* s;
    ~Finish() {
      s->finished_ = true;
      s->timer_.cancel();
    }
  } finish{this};

  log::Event("connect")
      .add("session", info_.id)
      .add("client", info_.peer_address)
      .add("port", info_.peer_port)
      .add("listener", listener_.address)
      .add("role", listener_.role == config::Role::mx ? "mx" : "submission");
  if (auto* o = server_.observer()) o->opened(info_);

  bool ok = true;
  if (listener_.tls == config::TlsMode::implicit) {
    auto ec = co_await stream_.handshake(server_.tls_context());
    if (ec) {
      log::Event("tls_failed").add("session", info_.id).add("client", info_.peer_address).add("error", ec.message());
      ok = false;
    } else {
      info_.tls = true;
    }
  }
  if (ok && server_.checks().needs_client_name()) {
    // Before the greeting, as Postfix does; asynchronous, so other
    // sessions on this thread go on; bounded by the resolver's timeout.
    asio::error_code ec;
    auto remote = stream_.socket().remote_endpoint(ec);
    if (!ec) info_.client_name = co_await server_.resolver(executor()).confirmed_name(remote.address());
    info_.client_name_checked = true;
  }
  if (ok) {
    if (auto r = server_.checks().on_connect(info_)) {
      reply(*r, "connect_refused");
      co_await flush();
      ok = false;
    }
  }
  if (ok) {
    queue_out(smtp::replies::greeting(config_->hostname));
    for (;;) {
      if (stop_requested_ && !transaction_) {
        co_await send(smtp::replies::shutting_down());
        break;
      }
      arm(config_->limits.command_timeout);
      waiting_for_command_ = true;
      auto line = co_await read_line(smtp::max_any_line_octets);
      waiting_for_command_ = false;
      if (line.status == Line::Status::closed) {
        if (timed_out_) {
          log::Event("timeout").add("session", info_.id).add("client", info_.peer_address).add("state", "command");
          co_await send(smtp::replies::timeout());
        } else if (stop_requested_) {
          co_await send(smtp::replies::shutting_down());
        }
        break;
      }
      Next next = Next::go_on;
      if (line.status == Line::Status::too_long) {
        // SPEC §5: an AUTH line (with its initial response) over 12288 octets is 5.5.6.
        if (util::istarts_with(reader_.overlong_head(), "AUTH "))
          reply(smtp::replies::auth_line_too_long());
        else
          reply(smtp::replies::line_too_long());
      } else {
        auto parsed = smtp::parse_command(line.text);
        if (auto* r = std::get_if<smtp::Reply>(&parsed)) {
          // An AUTH line may carry credentials (an initial response): only its verb is logged.
          const bool auth_line = util::istarts_with(line.text, "AUTH") &&
                                 (line.text.size() == 4 || line.text[4] == ' ' || line.text[4] == '\t');
          log::Event("bad_command").add("session", info_.id)
              .add("line", auth_line ? std::string("AUTH (arguments not logged)") : util::printable(line.text, 60));
          reply(*r);
        } else {
          auto& command = std::get<smtp::Command>(parsed);
          next = co_await handle(command);
          // RFC 2920 §3.1: the client waits for this reply; a client that
          // pipelined past it still gets it now.
          if (next == Next::go_on && smtp::rule(command.verb).ends_group && !co_await flush()) next = Next::close;
        }
      }
      if (next == Next::close || closing_) {
        co_await flush();
        break;
      }
    }
  }
  stream_.close();
  // The connection slot is free once the socket is: before the log says so.
  ticket_.reset();
  if (auto* o = server_.observer()) o->closed(info_);
  if (auto* m = server_.metrics())
    m->add("postern_sessions_total", {{"end", timed_out_ ? "timeout" : stop_requested_ ? "shutdown" : quit_ ? "quit" : "closed"}});
  log::Event("disconnect").add("session", info_.id).add("client", info_.peer_address).add("messages", messages_);
}

asio::awaitable<Session::Next> Session::handle(smtp::Command& cmd) {
  using smtp::Verb;
  // Named, not temporaries: GCC 12 destroys temporaries in a co_await expression twice.
  std::optional<Verdict> verdict;
  std::string address;
  switch (cmd.verb) {
    case Verb::ehlo:
    case Verb::helo:
      verdict = co_await decide(Stage::ehlo, cmd.argument);
      break;
    case Verb::mail:
      address = cmd.path.mailbox.str();
      verdict = co_await decide(Stage::mail, address);
      break;
    case Verb::rcpt:
      address = cmd.path.postmaster ? std::string("postmaster") : cmd.path.mailbox.str();
      if (transaction_) verdict = co_await decide(Stage::rcpt, address);
      break;
    default:
      break;
  }
  const bool checked = verdict && verdict->action == Verdict::Action::accept;
  if (verdict && !checked && !(cmd.verb == Verb::rcpt && verdict->action == Verdict::Action::reply &&
                               verdict->reply.positive()))
    co_return act(*verdict);
  switch (cmd.verb) {
    case Verb::ehlo:
      reply(ehlo(cmd));
      break;
    case Verb::helo:
      reply(helo(cmd));
      break;
    case Verb::mail:
      reply(mail(cmd, checked));
      break;
    case Verb::rcpt:
      reply(rcpt(cmd, verdict.has_value()), {});  // rcpt() logs with to=
      break;
    case Verb::data:
      co_return co_await data();
    case Verb::bdat:
      co_return co_await bdat(cmd);
    case Verb::rset:
      reset_transaction();
      reply(smtp::replies::reset_ok());
      break;
    case Verb::noop:
      reply(smtp::replies::noop_ok());
      break;
    case Verb::quit:
      quit_ = true;
      reply(smtp::replies::bye());
      co_return Next::close;
    case Verb::vrfy:
      reply(smtp::replies::vrfy());  // RFC 5321 §3.5.3: 252, disclose nothing
      break;
    case Verb::expn:
      reply(smtp::replies::not_implemented());
      break;
    case Verb::help:
      reply(smtp::replies::help());
      break;
    case Verb::starttls:
      co_return co_await starttls();
    case Verb::auth: {
      log::Event("auth_start").add("session", info_.id).add("client", info_.peer_address)
          .add("mechanism", loggable_mechanism(cmd.argument));
      auto r = co_await handle_auth(*this, cmd);
      reply(std::move(r), "auth");
      break;
    }
  }
  co_return Next::go_on;
}

smtp::Reply Session::ehlo(const smtp::Command& cmd) {
  // RFC 5321 §4.1.4: EHLO resets the state as RSET does.
  reset_transaction();
  info_.helo = cmd.argument;
  info_.esmtp = true;
  log::Event("helo").add("session", info_.id).add("client", info_.peer_address).add("helo", util::printable(cmd.argument, 100));
  std::vector<std::string> lines{config_->hostname + " greets " + util::printable(cmd.argument, 64)};
  lines.push_back("PIPELINING");
  lines.push_back("SIZE " + std::to_string(config_->limits.max_message_size));
  lines.push_back("8BITMIME");
  lines.push_back("SMTPUTF8");
  lines.push_back("ENHANCEDSTATUSCODES");
  lines.push_back("CHUNKING");
  if (listener_.tls == config::TlsMode::starttls && !stream_.tls()) lines.push_back("STARTTLS");
  auto mechanisms = auth_mechanisms_for(*this);
  if (!mechanisms.empty()) {
    std::string auth = "AUTH";
    for (auto& m : mechanisms) auth += " " + m;
    lines.push_back(auth);
  }
  lines.push_back("HELP");
  return smtp::Reply{250, "", lines};
}

smtp::Reply Session::helo(const smtp::Command& cmd) {
  reset_transaction();
  info_.helo = cmd.argument;
  info_.esmtp = false;
  log::Event("helo").add("session", info_.id).add("client", info_.peer_address).add("helo", util::printable(cmd.argument, 100));
  return smtp::Reply{250, "", config_->hostname};
}

smtp::DialogueState Session::dialogue_state() const {
  smtp::DialogueState s;
  s.greeted = !info_.helo.empty();
  s.esmtp = info_.esmtp;
  s.tls = stream_.tls();
  s.starttls_offered = listener_.tls == config::TlsMode::starttls;
  s.authenticated = info_.authenticated();
  s.in_transaction = transaction_.has_value();
  s.has_recipients = transaction_ && !transaction_->recipients.empty();
  s.in_bdat = body_ != nullptr;
  return s;
}

smtp::Reply Session::mail(smtp::Command& cmd, bool checked) {
  if (auto r = smtp::sequence_refusal(smtp::Verb::mail, dialogue_state())) return *r;
  // RFC 1870 §6: refuse at MAIL when the declared size is already too big.
  if (cmd.mail.size && *cmd.mail.size > config_->limits.max_message_size) return smtp::replies::message_too_big();
  if (!checked)
    if (auto r = server_.checks().on_mail(info_, cmd.path, cmd.mail)) return *r;
  transaction_.emplace();
  transaction_->reverse_path = std::move(cmd.path);
  transaction_->parameters = std::move(cmd.mail);
  log::Event("mail").add("session", info_.id).add("client", info_.peer_address)
      .add("from", "<" + transaction_->reverse_path.str() + ">");
  return smtp::replies::sender_ok();
}

smtp::Reply Session::rcpt(smtp::Command& cmd, bool checked) {
  if (auto r = smtp::sequence_refusal(smtp::Verb::rcpt, dialogue_state())) return *r;
  if (transaction_->recipients.size() >= config_->limits.max_recipients) return smtp::replies::too_many_recipients();
  // RFC 6531 §3.4: a UTF-8 address needs SMTPUTF8 on MAIL.
  if (cmd.path.mailbox.utf8() && !transaction_->parameters.smtputf8) return smtp::replies::utf8_needs_smtputf8();
  auto to = cmd.path.postmaster ? std::string("postmaster") : cmd.path.mailbox.str();
  auto r = checked ? std::nullopt : server_.checks().on_rcpt(info_, *transaction_, cmd.path);
  log::Event("rcpt").add("session", info_.id).add("client", info_.peer_address).add("to", "<" + to + ">")
      .add("reply", r ? r->summary() : "250 2.1.5 Recipient OK");
  if (r) return *r;
  transaction_->recipients.push_back(std::move(to));
  return smtp::replies::recipient_ok();
}

std::unique_ptr<MessageSink> Session::open_body() {
  auto& tx = *transaction_;
  store::Envelope envelope;
  envelope.reverse_path = tx.reverse_path.str();
  envelope.recipients = tx.recipients;
  envelope.client_address = info_.peer_address;
  envelope.client_helo = info_.helo;
  envelope.auth_identity = info_.auth_identity;
  if (tx.parameters.auth) envelope.auth_param = *tx.parameters.auth;
  envelope.body_type = tx.parameters.body == smtp::BodyType::eight_bit_mime ? "8BITMIME"
                       : tx.parameters.body == smtp::BodyType::seven_bit   ? "7BIT"
                                                                           : "";
  envelope.smtputf8 = tx.parameters.smtputf8;
  envelope.received_at = std::chrono::system_clock::now();

  ReceivedInfo received;
  received.helo = info_.helo;
  received.peer_address = info_.peer_address;
  received.hostname = config_->hostname;
  received.esmtp = info_.esmtp;
  received.tls = info_.tls;
  received.authenticated = info_.authenticated();
  received.id = server_.intake().new_id();
  received.tls_details = stream_.tls_description();
  if (tx.recipients.size() == 1) received.for_recipient = tx.recipients.front();
  received.when = envelope.received_at;
  return std::make_unique<MessageSink>(server_, std::move(envelope), received.id, received_header(received));
}

// One body path for DATA and BDAT: read until the decoder is done, passing
// what it decodes to the sink (if any), under the DATA timeout.
template <typename Decoder>
asio::awaitable<bool> Session::read_body(Decoder& decoder, MessageSink* sink, BodyCheck* check) {
  for (;;) {
    auto used = decoder.feed(reader_.buffered());
    if (check) check->feed(reader_.buffered().substr(0, used));
    reader_.consume(used);
    std::string piece = decoder.take_output();
    if (sink && !piece.empty()) co_await sink->add(std::move(piece));
    if (decoder.done()) break;
    arm(config_->limits.data_timeout);
    if (!co_await fill()) {
      if (timed_out_) {
        log::Event("timeout").add("session", info_.id).add("client", info_.peer_address).add("state", "data");
        co_await send(smtp::replies::timeout());
      } else if (force_stop_) {
        co_await send(smtp::replies::shutting_down());
      }
      co_return false;
    }
  }
  arm(config_->limits.command_timeout);
  co_return true;
}

asio::awaitable<Session::Next> Session::data() {
  if (auto r = smtp::sequence_refusal(smtp::Verb::data, dialogue_state())) {
    reply(*r);
    co_return Next::go_on;
  }
  if (auto v = co_await decide(Stage::data, "")) {
    if (v->action != Verdict::Action::accept) co_return act(*v);
  }
  queue_out(smtp::replies::start_data());
  if (!co_await flush()) co_return Next::close;

  auto sink = open_body();
  smtp::DataDecoder decoder(config_->limits.max_message_size);
  if (!co_await read_body(decoder, sink.get(), nullptr)) co_return Next::close;
  // The whole message has been read: now, and only now, the verdict.
  if (decoder.bare_cr_or_lf()) {
    reset_transaction();
    reply(smtp::replies::bare_cr_lf(), "data");
  } else if (decoder.too_big()) {
    reset_transaction();
    reply(smtp::replies::message_too_big(), "data");
  } else {
    if (auto* o = server_.observer()) o->client_message(info_, sink->size());
    if (auto v = co_await decide(Stage::dot, ""); v && v->action != Verdict::Action::accept) {
      reset_transaction();
      co_return act(*v);
    }
    reply(co_await finish_message(*sink));
    reset_transaction();
  }
  co_return Next::go_on;
}

asio::awaitable<Session::Next> Session::bdat(const smtp::Command& cmd) {
  // RFC 3030 §3: the chunk is read in full whatever the verdict, so the
  // dialogue stays in step.
  std::optional<smtp::Reply> refusal = smtp::sequence_refusal(smtp::Verb::bdat, dialogue_state());
  if (!refusal && !body_) body_ = std::make_unique<Body>(Body{open_body(), {}});
  std::string out;
  const std::uint64_t max = config_->limits.max_message_size;
  const std::uint64_t room = refusal ? 0 : max - std::min<std::uint64_t>(max, body_->sink->size());
  smtp::ChunkDecoder decoder(cmd.chunk_size, room, out);
  MessageSink* sink = refusal ? nullptr : body_->sink.get();
  if (!co_await read_body(decoder, sink, refusal ? nullptr : &body_->line_ends)) co_return Next::close;
  if (refusal) {
    reply(*refusal);
  } else if (decoder.too_big()) {
    // RFC 3030 §2: after a failed chunk the transaction is over.
    reset_transaction();
    reply(smtp::replies::message_too_big(), "data");
  } else if (cmd.last_chunk) {
    if (body_->line_ends.bare(true)) {
      reply(smtp::replies::bare_cr_lf(), "data");
    } else {
      if (auto* o = server_.observer()) o->client_message(info_, body_->sink->size());
      if (auto v = co_await decide(Stage::dot, ""); v && v->action != Verdict::Action::accept) {
        reset_transaction();
        co_return act(*v);
      }
      reply(co_await finish_message(*body_->sink));
    }
    reset_transaction();
  } else {
    reply(smtp::replies::chunk_received(cmd.chunk_size));
  }
  co_return Next::go_on;
}

asio::awaitable<smtp::Reply> Session::finish_message(MessageSink& sink) {
  auto& tx = *transaction_;
  if (auto r = server_.checks().on_message(info_, tx, sink.size())) co_return *r;
  // RFC 5321 §6.3: a message that has passed this many hops is looping.
  if (sink.received_count() > max_received_fields) {
    log::Event("loop").add("session", info_.id).add("client", info_.peer_address)
        .add("received", static_cast<long long>(sink.received_count()));
    co_return smtp::replies::too_many_hops();
  }
  ++messages_;
  std::string queue_id;
  try {
    // Disk I/O (fsync) runs on the blocking pool; this I/O thread serves
    // other sessions meanwhile. The 250 waits for it (SPEC §5).
    queue_id = co_await sink.commit();
  } catch (const std::exception& e) {
    log::Event("spool_failed").add("session", info_.id).add("client", info_.peer_address).add("error", e.what());
    const auto* io = dynamic_cast<const store::IoError*>(&e);
    const bool full = io && (io->code().value() == ENOSPC || io->code().value() == EDQUOT || io->code().value() == EFBIG);
    co_return full ? smtp::replies::insufficient_storage() : smtp::replies::local_error();
  }
  const auto& envelope = sink.envelope();
  log::Event("accepted")
      .add("session", info_.id)
      .add("queue_id", queue_id)
      .add("client", info_.peer_address)
      .add("from", "<" + envelope.reverse_path + ">")
      .add("nrcpt", static_cast<long long>(envelope.recipients.size()))
      .add("size", static_cast<long long>(sink.size()));
  co_return smtp::replies::queued(queue_id);
}

asio::awaitable<Session::Next> Session::starttls() {
  if (auto r = smtp::sequence_refusal(smtp::Verb::starttls, dialogue_state())) {
    reply(*r);
    co_return Next::go_on;
  }
  queue_out(smtp::replies::ready_for_tls());
  if (!co_await flush()) co_return Next::close;
  // RFC 3207 §4.2 / CVE-2011-0411: nothing sent before the handshake may be
  // executed after it. Postfix: "there must not be any pending plaintext".
  if (reader_.has_buffered()) {
    log::Event("starttls_pipelined")
        .add("session", info_.id)
        .add("client", info_.peer_address)
        .add("discarded", static_cast<long long>(reader_.buffered().size()));
  }
  reader_.discard();
  auto ec = co_await stream_.handshake(server_.tls_context());
  if (ec) {
    log::Event("tls_failed").add("session", info_.id).add("client", info_.peer_address).add("error", ec.message());
    co_return Next::close;
  }
  // RFC 3207 §4.2: forget everything learnt before TLS.
  info_.tls = true;
  info_.helo.clear();
  info_.esmtp = false;
  info_.auth_identity.clear();
  reset_transaction();
  log::Event("starttls").add("session", info_.id).add("client", info_.peer_address).add("tls", stream_.tls_description());
  co_return Next::go_on;
}

}  // namespace postern::server
