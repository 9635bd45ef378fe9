#include "server/session.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <openssl/ssl.h>

#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "sasl/secrets.hpp"
#include "admission/checks.hpp"
#include "server/incoming.hpp"
#include "server/message_sink.hpp"
#include "server/milter_stage.hpp"
#include "server/server.hpp"
#include "smtp/replies.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

namespace postern::server {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
// One read from the socket: small, so 10,000 idle sessions stay cheap.
constexpr std::size_t read_chunk_octets = 4096;
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

smtp::DialogueSettings dialogue_settings(const config::Config& config, const config::Listener& listener,
                                         bool transcript) {
  smtp::DialogueSettings s;
  s.hostname = config.hostname;
  s.max_message_size = config.limits.max_message_size;
  s.max_recipients = config.limits.max_recipients;
  s.max_errors = config.limits.max_errors;
  s.starttls_offered = listener.tls == config::TlsMode::starttls;
  s.report_lines = transcript;
  // Submission clients authenticate first; on mx, spamware and smuggling
  // probes do not wait. The testbed (transcripts) takes what applications send.
  s.forbid_unauth_pipelining = config.limits.forbid_unauth_pipelining && listener.role == config::Role::mx && !transcript;
  return s;
}

Session::Session(Server& server, asio::ip::tcp::socket socket, std::shared_ptr<const config::Config> config,
                 const config::Listener& listener, const asio::ip::tcp::endpoint& remote)
    : server_(server),
      config_(std::move(config)),
      listener_(listener),
      stream_(std::move(socket)),
      dialogue_(dialogue_settings(*config_, listener, server.observer() != nullptr), info_),
      deadline_(stream_.socket().get_executor(), [this] { expired(); }) {
  info_.id = util::random_hex(6);
  info_.peer_address = peer_text(remote.address());
  info_.peer_port = remote.port();
  info_.local_address = listener.address;
  asio::error_code ec;
  auto local = stream_.socket().local_endpoint(ec);
  if (!ec) {
    info_.local_ip = peer_text(local.address());
    info_.local_port = local.port();
  }
  info_.role = listener.role;
  info_.config = config_.get();
}

Session::~Session() = default;

asio::awaitable<void> Session::run() {
  co_await dialogue();
}

void Session::request_stop(bool force) {
  stop_requested_ = true;
  force_stop_ = force_stop_ || force;
  // An idle session is interrupted now; one in a transaction may finish
  // it (SPEC §2: every 250 stays honoured) unless the grace period is over.
  if (force_stop_ || (waiting_for_command_ && !dialogue_.in_transaction())) stream_.cancel();
  if (force_stop_ && milters_) milters_->cancel();
}

void Session::arm(std::chrono::steady_clock::duration timeout) { deadline_.arm(timeout); }

void Session::expired() {
  if (!timed_out_) {
    // Interrupt the pending read or write; the dialogue sends 421 4.4.2.
    timed_out_ = true;
    deadline_.arm(goodbye_grace);
    stream_.cancel();
  } else {
    stream_.close();  // the client does not even take the 421
  }
}

asio::awaitable<bool> Session::flush() {
  if (out_.empty()) co_return true;
  std::string pending;
  pending.swap(out_);
  auto ec = co_await stream_.write(asio::buffer(pending));
  co_return !ec;
}

bool Session::in_body() const {
  using Phase = smtp::ServerDialogue::Phase;
  return dialogue_.phase() == Phase::data || dialogue_.phase() == Phase::chunk;
}

// Waits until the octets read so far are due at the throttle's pace, in
// steps of at most 100 ms: a stop or the deadline ends the wait at once.
asio::awaitable<bool> Session::wait_for_throttle() {
  const auto due = throttle_since_ + std::chrono::microseconds(
                                         static_cast<long long>(static_cast<double>(throttle_read_) * 1e6 /
                                                                static_cast<double>(throttle_)));
  asio::steady_timer t(executor());
  for (;;) {
    if (timed_out_ || force_stop_) co_return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= due) co_return true;
    t.expires_after(std::min<std::chrono::steady_clock::duration>(due - now, std::chrono::milliseconds(100)));
    co_await t.async_wait(use_tuple);
  }
}

asio::awaitable<bool> Session::fill() {
  if (timed_out_ || force_stop_) co_return false;
  if (stop_requested_ && waiting_for_command_ && !dialogue_.in_transaction()) co_return false;
  if (!dialogue_.has_buffered() && !stream_.tls()) {
    // Idle: wait without a buffer, allocate one when bytes are there.
    dialogue_.release_if_empty();
    if (auto ec = co_await stream_.wait_readable()) co_return false;
    if (timed_out_ || force_stop_) co_return false;
  }
  std::size_t want = read_chunk_octets;
  if (throttle_ > 0 && in_body()) {
    if (!co_await wait_for_throttle()) co_return false;
    // Slices of a tenth of a second's worth, so the pace stays even.
    want = static_cast<std::size_t>(std::clamp<std::uint64_t>(throttle_ / 10, 1, read_chunk_octets));
  }
  auto room = dialogue_.prepare(want);
  auto [ec, n] = co_await stream_.read_some(asio::buffer(room.data(), std::min(room.size(), want)));
  dialogue_.commit(n);
  if (throttle_ > 0) throttle_read_ += n;
  co_return !ec;
}

void Session::queue_out(const smtp::Reply& r, std::string_view cause) {
  if (auto* o = server_.observer()) o->server_reply(info_, r, cause);
  if (auto* m = server_.metrics())
    m->add("postern_smtp_replies_total", {{"code", std::to_string(r.code)}, {"enhanced", r.enhanced}});
  out_ += r.wire();
}

void Session::drain() {
  auto& replies = dialogue_.replies();
  for (auto& o : replies) {
    if (!o.replaced.empty())
      log::Event("reject").add("session", info_.id).add("client", info_.peer_address).add("reply", o.replaced);
    if (!o.event.empty() && (o.event != "reject" || o.reply.code >= 400))
      log::Event(o.event).add("session", info_.id).add("client", info_.peer_address).add("reply", o.reply.summary());
    queue_out(o.reply, o.cause);
  }
  replies.clear();
}

asio::awaitable<std::optional<Verdict>> Session::decide(Stage stage, std::string_view argument) {
  auto* admission = server_.admission();
  if (!admission) co_return std::nullopt;
  auto verdict = admission->decide(stage, info_, dialogue_.transaction(), argument);
  if (verdict && verdict->delay.count() > 0) {
    drain();
    co_await flush();  // what was answered before the delay is not held back by it
    // In steps of at most 100 ms: once the shutdown's grace is over, the wait
    // ends in 421 and the close, as any other transaction does.
    const auto until = std::chrono::steady_clock::now() + verdict->delay;
    asio::steady_timer t(executor());
    for (auto now = std::chrono::steady_clock::now(); now < until && !force_stop_ && !timed_out_;
         now = std::chrono::steady_clock::now()) {
      t.expires_after(std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(100)));
      co_await t.async_wait(use_tuple);
    }
    if (force_stop_) {
      Verdict stop;
      stop.action = Verdict::Action::shutdown;
      stop.reply = smtp::replies::shutting_down();
      stop.cause = "shutdown";
      co_return stop;
    }
  }
  co_return verdict;
}

Session::Next Session::enforce(const Verdict& v) {
  switch (v.action) {
    case Verdict::Action::drop:
      log::Event("dropped").add("session", info_.id).add("client", info_.peer_address);
      if (auto* o = server_.observer()) o->server_reply(info_, smtp::Reply(0, "", "(connection closed, no reply)"), v.cause);
      dialogue_.drop();
      out_.clear();
      return Next::close;
    case Verdict::Action::shutdown:
      dialogue_.refuse(v.reply, v.cause);
      dialogue_.close();
      break;
    case Verdict::Action::reply:
    case Verdict::Action::accept:
      dialogue_.refuse(v.reply, v.cause);
      break;
  }
  return Next::go_on;
}

asio::awaitable<void> Session::dialogue() {
  struct Finish {
    Session* s;
    ~Finish() { s->deadline_.disarm(); }
  } finish{this};
  deadline_.arm(config_->limits.command_timeout);  // on the session's own thread, as every later arm

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
      dialogue_.send(*r, "connect_refused");
      drain();
      co_await flush();
      ok = false;
    }
  }
  if (ok) {
    milters_ = MilterStage::for_session(executor(), server_, info_, info_.local_ip);
    if (milters_) {
      if (auto refusal = co_await milters_->connect()) {
        // Only 554 and 421 may open a session (RFC 5321 §4.3.2).
        auto r = refusal->reply;
        r.code = r.permanent() ? 554 : 421;
        dialogue_.send(r, "milter_refused");
        drain();
        co_await flush();
        ok = false;
      }
    }
  }
  if (ok) {
    dialogue_.greet();
    for (;;) {
      if (stop_requested_ && dialogue_.phase() == smtp::ServerDialogue::Phase::command && !dialogue_.in_transaction()) {
        dialogue_.shutting_down();
        drain();
      }
      auto event = dialogue_.next();
      Next next = co_await act(event);
      drain();
      if (next == Next::close) {
        co_await flush();
        break;
      }
    }
  }
  stream_.close();
  if (milters_) co_await milters_->quit();
  // The connection slot is free once the socket is: before the log says so.
  ticket_.reset();
  if (auto* o = server_.observer()) o->closed(info_);
  if (auto* m = server_.metrics())
    m->add("postern_sessions_total",
           {{"end", timed_out_ ? "timeout" : stop_requested_ ? "shutdown" : dialogue_.quit() ? "quit" : "closed"}});
  log::Event("disconnect").add("session", info_.id).add("client", info_.peer_address).add("messages", messages_);
}

asio::awaitable<Session::Next> Session::act(smtp::Event& e) {
  using Kind = smtp::Event::Kind;
  switch (e.kind) {
    case Kind::need_input:
      co_return co_await read_more();
    case Kind::flush:
      // RFC 2920 §3.1: the client waits for this reply; a client that
      // pipelined past it still gets it now.
      drain();
      co_return co_await flush() ? Next::go_on : Next::close;
    case Kind::close:
      co_return Next::close;
    case Kind::line:
      if (auto* o = server_.observer()) o->client_line(info_, e.text);
      break;
    case Kind::bad_command:
      log::Event("bad_command").add("session", info_.id).add("verb", e.text).add("octets", static_cast<long long>(e.size));
      break;
    case Kind::hello:
      co_return co_await hello(*e.command);
    case Kind::mail:
      co_return co_await mail(*e.command);
    case Kind::rcpt:
      co_return co_await rcpt(*e.command);
    case Kind::data:
      co_return co_await data();
    case Kind::starttls:
      co_return co_await starttls(e.size);
    case Kind::auth:
      co_return co_await auth(e.command->argument);
    case Kind::auth_response:
      co_return co_await auth_response(std::move(e.text));
    case Kind::auth_cancelled:
      co_return auth_step(co_await auth_->cancel(*this));
    case Kind::body_begin:
      sink_ = open_message(server_, info_, *dialogue_.transaction(), stream_.tls_description(),
                           milters_ ? milters_->queue_id() : std::string());
      inbound_.begin(info_, *dialogue_.transaction());
      // Nothing will read or change it before the commit: it may go straight to the mailboxes.
      if (!milters_ && !inbound_.checking()) sink_->allow_direct();
      break;
    case Kind::body:
      co_await inbound_.add(*sink_, std::move(e.text));
      break;
    case Kind::body_abandoned:
      inbound_.abandon();
      sink_.reset();
      break;
    case Kind::body_end:
      co_return co_await message_end();
  }
  co_return Next::go_on;
}

// Input ran dry: the held (pipelined) replies go out (RFC 2920 §3.2), then
// one read, under the command or the DATA deadline.
asio::awaitable<Session::Next> Session::read_more() {
  drain();
  if (!co_await flush()) co_return Next::close;
  using Phase = smtp::ServerDialogue::Phase;
  const Phase phase = dialogue_.phase();
  const bool body = phase == Phase::data || phase == Phase::chunk;
  // A command's deadline runs from its first octet; a body's is renewed by every read.
  if (body) {
    arm(config_->limits.data_timeout);
  } else if (armed_for_ != phase || !dialogue_.has_buffered()) {
    arm(config_->limits.command_timeout);
  }
  armed_for_ = phase;
  waiting_for_command_ = phase == Phase::command;
  const bool ok = co_await fill();
  waiting_for_command_ = false;
  if (ok) co_return Next::go_on;
  if (timed_out_) {
    log::Event("timeout").add("session", info_.id).add("client", info_.peer_address).add("state", body ? "data" : "command");
    dialogue_.timed_out();
  } else if (force_stop_ || (stop_requested_ && !body)) {
    dialogue_.shutting_down();
  } else {
    co_return Next::close;
  }
  co_return Next::go_on;  // the dialogue closes after its 421
}

asio::awaitable<Session::Next> Session::hello(const smtp::Command& cmd) {
  auto verdict = co_await decide(Stage::ehlo, cmd.argument);
  if (verdict && verdict->action != Verdict::Action::accept) co_return enforce(*verdict);
  log::Event("helo").add("session", info_.id).add("client", info_.peer_address).add("helo", util::printable(cmd.argument, 100));
  if (milters_) {
    auto* ssl = stream_.tls_handle();
    const int bits = ssl ? SSL_get_cipher_bits(ssl, nullptr) : 0;
    if (auto refusal = co_await milters_->helo(cmd.argument, stream_.tls_description(), bits))
      co_return refuse_for_milter(*refusal);
  }
  // The mechanisms depend on TLS only, which EHLO does not change
  // (and, with the Dovecot backend, on what Dovecot offers: asked when stale).
  if (cmd.verb == smtp::Verb::ehlo) co_await refresh_auth_mechanisms(*this);
  dialogue_.accept_hello(cmd.verb == smtp::Verb::ehlo ? auth_mechanisms_for(*this) : std::vector<std::string>{});
  co_return Next::go_on;
}

asio::awaitable<Session::Next> Session::mail(const smtp::Command& cmd) {
  std::string address = cmd.path.mailbox.str();
  auto verdict = co_await decide(Stage::mail, address);
  if (verdict && verdict->action != Verdict::Action::accept) co_return enforce(*verdict);
  // An Admission that accepted it skips the usual checks.
  if (!verdict) {
    if (auto r = server_.checks().on_mail(info_, cmd.path, cmd.mail)) {
      dialogue_.refuse(std::move(*r));
      co_return Next::go_on;
    }
  }
  if (milters_)
    if (auto refusal = co_await milters_->mail(cmd)) co_return refuse_for_milter(*refusal);
  log::Event("mail").add("session", info_.id).add("client", info_.peer_address).add("from", "<" + cmd.path.str() + ">");
  dialogue_.accept();
  co_return Next::go_on;
}

asio::awaitable<Session::Next> Session::rcpt(const smtp::Command& cmd) {
  std::string to = cmd.path.postmaster ? std::string("postmaster") : cmd.path.mailbox.str();
  auto verdict = co_await decide(Stage::rcpt, to);
  // A positive reply from an Admission takes the recipient, as accept does.
  if (verdict && verdict->action != Verdict::Action::accept &&
      !(verdict->action == Verdict::Action::reply && verdict->reply.positive()))
    co_return enforce(*verdict);
  auto r = verdict ? std::nullopt : server_.checks().on_rcpt(info_, *dialogue_.transaction(), cmd.path);
  if (!r && !verdict) r = co_await inbound_.at_rcpt(server_, executor(), info_, *dialogue_.transaction(), to);
  if (!verdict && !r)
    if (auto* verifier = server_.recipient_verifier())
      r = co_await verifier->verify(info_, *dialogue_.transaction(), cmd.path);
  // The filters see only what Postern's own checks accepted, as under Postfix.
  if (!r && milters_) {
    if (auto refusal = co_await milters_->rcpt(cmd)) {
      if (refusal->close) co_return refuse_for_milter(*refusal);
      r = refusal->reply;
    }
  }
  // A rule's own positive reply is sent as written.
  std::optional<smtp::Reply> positive;
  if (verdict && verdict->action == Verdict::Action::reply && verdict->reply.positive()) positive = verdict->reply;
  log::Event("rcpt").add("session", info_.id).add("client", info_.peer_address).add("to", "<" + to + ">")
      .add("reply", r ? r->summary() : positive ? positive->summary() : "250 2.1.5 Recipient OK");
  if (r)
    dialogue_.refuse(std::move(*r));
  else
    dialogue_.accept(std::move(positive), positive && verdict ? verdict->cause : std::string());
  co_return Next::go_on;
}

asio::awaitable<Session::Next> Session::data() {
  auto verdict = co_await decide(Stage::data, "");
  if (verdict && verdict->action != Verdict::Action::accept) co_return enforce(*verdict);
  if (milters_)
    if (auto refusal = co_await milters_->data()) co_return refuse_for_milter(*refusal);
  throttle_ = verdict ? verdict->throttle : 0;
  throttle_read_ = 0;
  throttle_since_ = std::chrono::steady_clock::now();
  dialogue_.accept(std::nullopt, verdict && verdict->throttle ? verdict->cause : std::string());
  co_return Next::go_on;
}

Session::Next Session::refuse_for_milter(const MilterRefusal& refusal) {
  dialogue_.refuse(refusal.reply, "milter");
  if (refusal.close) dialogue_.close();
  return Next::go_on;
}

// The filters' say at the end of DATA: nullopt to store the message (as
// they changed it), else the reply instead (a refusal, or 250 for a
// message they discarded).
asio::awaitable<std::optional<smtp::Reply>> Session::milters_end_of_message() {
  MilterStage::End end;
  try {
    end = co_await milters_->end_of_message(*sink_);
  } catch (const std::exception& e) {
    log::Event("spool_failed").add("session", info_.id).add("client", info_.peer_address).add("error", e.what());
    co_return smtp::replies::local_error();
  }
  if (end.refusal) {
    if (end.refusal->close) dialogue_.close();
    co_return end.refusal->reply;
  }
  if (end.discard) {
    log::Event("discarded").add("session", info_.id).add("queue_id", sink_->queue_id()).add("client", info_.peer_address);
    ++messages_;
    co_return smtp::replies::queued(sink_->queue_id());
  }
  co_return std::nullopt;
}

asio::awaitable<Session::Next> Session::message_end() {
  throttle_ = 0;
  if (auto* o = server_.observer()) o->client_message(info_, sink_->size());
  auto verdict = co_await decide(Stage::dot, "");
  if (verdict && verdict->action != Verdict::Action::accept) {
    sink_.reset();
    co_return enforce(*verdict);
  }
  // The built-in checks first (their Authentication-Results: is then part of
  // what the filters are given), then the filters.
  if (auto refused = co_await inbound_.at_end(server_, executor(), info_, *sink_)) {
    sink_.reset();
    dialogue_.message_done(std::move(*refused));
    co_return Next::go_on;
  }
  if (milters_) {
    if (auto reply = co_await milters_end_of_message()) {
      sink_.reset();
      dialogue_.message_done(std::move(*reply));
      co_return Next::go_on;
    }
  }
  auto reply = co_await store_message(server_, info_, *dialogue_.transaction(), *sink_);
  if (reply.code == 250) ++messages_;
  sink_.reset();
  dialogue_.message_done(std::move(reply));
  co_return Next::go_on;
}

asio::awaitable<Session::Next> Session::starttls(std::uint64_t discarded) {
  if (server_.admission()) {
    // An Admission may answer STARTTLS itself: asked before the 220 goes out.
    auto& queued = dialogue_.replies();
    std::optional<smtp::Outgoing> ready;
    if (!queued.empty() && queued.back().reply.code == 220) {
      ready = std::move(queued.back());
      queued.pop_back();
    }
    auto verdict = co_await decide(Stage::starttls, "");
    if (verdict && verdict->action == Verdict::Action::drop) co_return enforce(*verdict);
    if (verdict && verdict->action != Verdict::Action::accept) {
      dialogue_.refuse_starttls(verdict->reply, verdict->cause);
      if (verdict->action == Verdict::Action::shutdown) dialogue_.close();
      co_return Next::go_on;
    }
    if (ready) dialogue_.replies().push_back(std::move(*ready));
  }
  drain();
  if (!co_await flush()) co_return Next::close;
  if (discarded > 0) {
    log::Event("starttls_pipelined")
        .add("session", info_.id)
        .add("client", info_.peer_address)
        .add("discarded", static_cast<long long>(discarded));
  }
  auto ec = co_await stream_.handshake(server_.tls_context());
  if (ec) {
    log::Event("tls_failed").add("session", info_.id).add("client", info_.peer_address).add("error", ec.message());
    co_return Next::close;
  }
  sink_.reset();
  dialogue_.tls_started();
  log::Event("starttls").add("session", info_.id).add("client", info_.peer_address).add("tls", stream_.tls_description());
  co_return Next::go_on;
}

asio::awaitable<Session::Next> Session::auth(std::string_view argument) {
  auth_mechanism_ = loggable_mechanism(argument);
  log::Event("auth_start").add("session", info_.id).add("client", info_.peer_address)
      .add("mechanism", auth_mechanism_);
  auto step = co_await AuthExchange::start(*this, argument, auth_);
  co_return auth_step(std::move(step));
}

asio::awaitable<Session::Next> Session::auth_response(std::string bytes) {
  auto step = co_await auth_->respond(*this, std::move(bytes));
  co_return auth_step(std::move(step));
}

Session::Next Session::auth_step(AuthExchange::Step step) {
  if (step.challenge) {
    dialogue_.challenge(*step.challenge);
    sasl::wipe(*step.challenge);
    return Next::go_on;
  }
  auth_.reset();
  if (step.drop) {
    Verdict drop;
    drop.action = Verdict::Action::drop;
    drop.cause = std::move(step.cause);
    return enforce(drop);
  }
  if (!step.identity.empty()) {
    log::Event e("auth");
    e.add("session", info_.id).add("client", info_.peer_address).add("user", step.identity);
    if (step.cached) e.add("verified", "cache");
    if (milters_) milters_->authenticated(auth_mechanism_);
  }
  dialogue_.auth_done(std::move(step.reply), std::move(step.identity), std::move(step.cause));
  if (step.close) dialogue_.close();
  return Next::go_on;
}

}  // namespace postern::server
