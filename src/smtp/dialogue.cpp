#include "smtp/dialogue.hpp"

#include <stdexcept>

#include "sasl/auth_line.hpp"
#include "sasl/base64.hpp"
#include "sasl/secrets.hpp"
#include "smtp/replies.hpp"
#include "util/strings.hpp"

namespace postern::smtp {
namespace {

Event event(Event::Kind kind, std::string text = {}) {
  Event e;
  e.kind = kind;
  e.text = std::move(text);
  return e;
}

// What the log may say of a line that is no command: its verb when it is
// one a mail or web client sends, else nothing. The line itself may be a
// password: the base64 lines a client sends after a refused AUTH, or a
// mistyped "AUTHPLAIN <initial response>".
std::string loggable_verb(std::string_view line) {
  static constexpr std::string_view known[] = {
      "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS",
      "AUTH", "ETRN", "TURN", "ATRN", "SEND", "SOML", "SAML", "XCLIENT", "XFORWARD", "LHLO",
      "GET",  "HEAD", "POST", "PUT",  "DELETE", "OPTIONS", "CONNECT", "USER", "PASS"};
  const auto verb = line.substr(0, line.find_first_of(" \t"));
  for (auto k : known)
    if (util::iequals(verb, k)) return std::string(k);
  return "(not a verb; not logged)";
}

Reply ehlo_reply(const DialogueSettings& s, const SessionState& session, std::string_view name,
                 const std::vector<std::string>& mechanisms) {
  std::vector<std::string> lines{s.hostname + " greets " + util::printable(name, 64)};
  lines.push_back("PIPELINING");
  lines.push_back("SIZE " + std::to_string(s.max_message_size));
  lines.push_back("8BITMIME");
  lines.push_back("SMTPUTF8");
  lines.push_back("ENHANCEDSTATUSCODES");
  lines.push_back("CHUNKING");
  if (s.starttls_offered && !session.tls) lines.push_back("STARTTLS");
  if (!mechanisms.empty()) {
    std::string auth = "AUTH";
    for (const auto& m : mechanisms) auth += " " + m;
    lines.push_back(std::move(auth));
  }
  lines.push_back("HELP");
  return Reply{250, "", lines};
}

}  // namespace

ServerDialogue::ServerDialogue(DialogueSettings settings, SessionState& session)
    : settings_(std::move(settings)), session_(session), reader_(max_any_line_octets) {}

ServerDialogue::~ServerDialogue() = default;

DialogueState ServerDialogue::state() const {
  DialogueState s;
  s.greeted = !session_.helo.empty();
  s.esmtp = session_.esmtp;
  s.tls = session_.tls;
  s.starttls_offered = settings_.starttls_offered;
  s.authenticated = session_.authenticated();
  s.in_transaction = transaction_.has_value();
  s.has_recipients = transaction_ && !transaction_->recipients.empty();
  s.in_bdat = body_open_ && bdat_;
  return s;
}

void ServerDialogue::send(Reply reply, std::string_view event, std::string cause) {
  std::string replaced;
  // Count bad commands; the reply to the max_errors-th is 421 (SPEC §4).
  if (reply.code >= 500) {
    ++errors_;
    if (settings_.max_errors && errors_ >= settings_.max_errors) {
      replaced = reply.summary();
      reply = replies::too_many_errors();
    }
  }
  if (reply.code == 421) closing_ = true;
  out_.push_back(Outgoing{std::move(reply), event, std::move(cause), std::move(replaced)});
}

Event ServerDialogue::next() {
  for (;;) {
    if (!pending_.empty()) {
      Event e = std::move(pending_.front());
      pending_.pop_front();
      return e;
    }
    if (asked_ != Asked::none) throw std::logic_error("ServerDialogue::next() before the host answered");
    if (closing_ || phase_ == Phase::closed) {
      phase_ = Phase::closed;
      return event(Event::Kind::close);
    }
    if (phase_ == Phase::data || phase_ == Phase::chunk) {
      if (auto e = on_body()) return std::move(*e);
      continue;
    }
    if (held_) {
      std::string line = std::move(*held_);
      held_.reset();
      const bool secret = phase_ == Phase::auth;  // an answer to a 334 may carry a password
      auto e = on_line(line);
      if (secret) sasl::wipe(line);
      if (e) return std::move(*e);
      continue;
    }
    reader_.set_limit(phase_ == Phase::auth ? max_auth_octets : max_any_line_octets);
    auto r = reader_.next();
    if (r.status == LineReader::Status::need_more) return event(Event::Kind::need_input);
    if (r.status == LineReader::Status::too_long) {
      if (phase_ == Phase::auth) {
        phase_ = Phase::command;
        send(replies::auth_line_too_long(), "auth");
        finish_command(Verb::auth);
      } else {
        // SPEC §5: an AUTH line (with its initial response) over 12288 octets is 5.5.6.
        send(util::istarts_with(reader_.overlong_head(), "AUTH ") ? replies::auth_line_too_long()
                                                                    : replies::line_too_long());
      }
      continue;
    }
    if (settings_.report_lines) {
      held_ = std::string(r.line);
      return event(Event::Kind::line, *held_);
    }
    if (auto e = on_line(r.line)) return std::move(*e);
  }
}

std::optional<Event> ServerDialogue::on_line(std::string_view line) {
  if (phase_ == Phase::auth) {
    // RFC 4954 §4: "*" cancels; anything else must be base64.
    auto response = sasl::decode_response(line);
    if (std::holds_alternative<sasl::BadBase64>(response)) {
      phase_ = Phase::command;
      send(replies::cannot_decode(), "auth");
      finish_command(Verb::auth);
      return std::nullopt;
    }
    asked_ = Asked::auth;
    // The host decides: a cancel after a verdict (OAuth's error) is that failure.
    if (std::holds_alternative<sasl::Cancelled>(response)) return event(Event::Kind::auth_cancelled);
    Event e = event(Event::Kind::auth_response);
    e.text = std::move(std::get<std::string>(response));
    return e;
  }
  auto parsed = parse_command(line);
  if (auto* r = std::get_if<Reply>(&parsed)) {
    // Arguments may carry credentials (an AUTH initial response): only a known verb is logged.
    Event e = event(Event::Kind::bad_command);
    e.text = loggable_verb(line);
    e.size = line.size();
    send(std::move(*r));
    return e;
  }
  return on_command(std::move(std::get<Command>(parsed)));
}

std::optional<Event> ServerDialogue::ask(Asked what, Event::Kind kind, Command command) {
  asked_ = what;
  command_ = std::move(command);
  Event e = event(kind);
  e.command = &command_;
  return e;
}

std::optional<Event> ServerDialogue::on_command(Command cmd) {
  const DialogueState s = state();
  auto refusal = sequence_refusal(cmd.verb, s);
  switch (cmd.verb) {
    case Verb::ehlo:
    case Verb::helo:
      return ask(Asked::hello, Event::Kind::hello, std::move(cmd));
    case Verb::mail:
      if (refusal) {
        send(std::move(*refusal));
      } else if (cmd.mail.size && *cmd.mail.size > settings_.max_message_size) {
        // RFC 1870 §6: refuse at MAIL when the declared size is already too big.
        send(replies::message_too_big());
      } else {
        return ask(Asked::mail, Event::Kind::mail, std::move(cmd));
      }
      break;
    case Verb::rcpt:
      // Refusals of RCPT are not logged here: the host logs every RCPT it decides.
      if (refusal) {
        send(std::move(*refusal), "");
      } else if (transaction_->recipients.size() >= settings_.max_recipients) {
        send(replies::too_many_recipients(), "");
      } else if (cmd.path.mailbox.utf8() && !transaction_->parameters.smtputf8) {
        // RFC 6531 §3.4: a UTF-8 address needs SMTPUTF8 on MAIL.
        send(replies::utf8_needs_smtputf8(), "");
      } else {
        return ask(Asked::rcpt, Event::Kind::rcpt, std::move(cmd));
      }
      break;
    case Verb::data:
      if (refusal) {
        send(std::move(*refusal));
        break;
      }
      return ask(Asked::data, Event::Kind::data, std::move(cmd));
    case Verb::bdat: {
      // RFC 3030 §3: the chunk is read in full whatever the verdict, so the
      // dialogue stays in step.
      command_ = std::move(cmd);
      chunk_refusal_ = std::move(refusal);
      const std::uint64_t max = settings_.max_message_size;
      const std::uint64_t room = chunk_refusal_ ? 0 : max - std::min(max, body_size_);
      chunk_out_.clear();
      chunk_ = std::make_unique<ChunkDecoder>(command_.chunk_size, room, chunk_out_);
      phase_ = Phase::chunk;
      if (!chunk_refusal_ && !body_open_) {
        body_open_ = true;
        bdat_ = true;
        return event(Event::Kind::body_begin);
      }
      return std::nullopt;
    }
    case Verb::rset:
      reset_transaction();
      send(replies::reset_ok());
      break;
    case Verb::noop:
      send(replies::noop_ok());
      break;
    case Verb::quit:
      quit_ = true;
      send(replies::bye());
      closing_ = true;
      break;
    case Verb::vrfy:
      send(replies::vrfy());  // RFC 5321 §3.5.3: 252, disclose nothing
      break;
    case Verb::expn:
      send(replies::not_implemented());
      break;
    case Verb::help:
      send(replies::help());
      break;
    case Verb::starttls: {
      if (refusal) {
        send(std::move(*refusal));
        break;
      }
      send(replies::ready_for_tls(), "");
      // RFC 3207 §4.2 / CVE-2011-0411: nothing sent before the handshake may
      // be executed after it ("there must not be any pending plaintext").
      Event e = event(Event::Kind::starttls);
      e.size = reader_.buffered().size();
      reader_.discard();
      held_.reset();
      asked_ = Asked::starttls;
      command_ = std::move(cmd);
      return e;
    }
    case Verb::auth:
      if (refusal) {
        send(std::move(*refusal), "auth");
        break;
      }
      return ask(Asked::auth, Event::Kind::auth, std::move(cmd));
  }
  finish_command(cmd.verb);
  return std::nullopt;
}

std::optional<Event> ServerDialogue::on_body() {
  if (phase_ == Phase::data) {
    if (!data_->done()) {
      auto used = data_->feed(reader_.buffered());
      reader_.consume(used);
      std::string piece = data_->take_output();
      if (!piece.empty()) {
        body_size_ += piece.size();
        return event(Event::Kind::body, std::move(piece));
      }
      if (!data_->done()) return event(Event::Kind::need_input);
    }
    // The whole message has been read: now, and only now, the verdict.
    phase_ = Phase::command;
    const bool bare = data_->bare_cr_or_lf(), nul = data_->nul(), too_big = data_->too_big();
    const auto size = data_->size();
    data_.reset();
    if (pipelined_behind_dot()) {
      reset_transaction();
      send(replies::protocol_synchronization(), "pipelining");
      closing_ = true;
      return std::nullopt;
    }
    if (bare || nul || too_big) {
      reset_transaction();
      send(bare ? replies::bare_cr_lf() : nul ? replies::nul_in_message() : replies::message_too_big(), "data");
      finish_command(Verb::data);
      return std::nullopt;
    }
    asked_ = Asked::body_end;
    command_.verb = Verb::data;
    Event e = event(Event::Kind::body_end);
    e.size = size;
    return e;
  }
  if (!chunk_->done()) {
    auto bytes = reader_.buffered();
    auto used = chunk_->feed(bytes);
    if (!chunk_refusal_) line_ends_.feed(bytes.substr(0, used));
    reader_.consume(used);
    std::string piece = chunk_->take_output();
    if (!piece.empty() && !chunk_refusal_) {
      body_size_ += piece.size();
      return event(Event::Kind::body, std::move(piece));
    }
    if (!chunk_->done()) return event(Event::Kind::need_input);
  }
  phase_ = Phase::command;
  const bool too_big = chunk_->too_big();
  chunk_.reset();
  if (chunk_refusal_) {
    send(std::move(*chunk_refusal_));
    chunk_refusal_.reset();
  } else if (too_big) {
    // RFC 3030 §2: after a failed chunk the transaction is over.
    reset_transaction();
    send(replies::message_too_big(), "data");
  } else if (command_.last_chunk) {
    if (line_ends_.bare(true) || line_ends_.nul()) {
      Reply refusal = line_ends_.nul() ? replies::nul_in_message() : replies::bare_cr_lf();
      reset_transaction();
      send(std::move(refusal), "data");
    } else {
      asked_ = Asked::body_end;
      Event e = event(Event::Kind::body_end);
      e.size = body_size_;
      return e;
    }
  } else {
    send(replies::chunk_received(command_.chunk_size));
  }
  finish_command(Verb::bdat);
  return std::nullopt;
}

// Octets read behind the final dot: the client did not wait for its reply.
// QUIT alone is harmless there and some clients send it so.
bool ServerDialogue::pipelined_behind_dot() const {
  if (!settings_.forbid_unauth_pipelining || session_.authenticated()) return false;
  const auto rest = reader_.buffered();
  return !rest.empty() && !util::iequals(rest, "QUIT\r\n");
}

void ServerDialogue::finish_command(Verb verb) {
  if (rule(verb).ends_group) pending_.push_back(event(Event::Kind::flush));
}

void ServerDialogue::reset_transaction() {
  transaction_.reset();
  if (body_open_) pending_.push_back(event(Event::Kind::body_abandoned));
  body_open_ = false;
  bdat_ = false;
  body_size_ = 0;
  line_ends_ = {};
}

void ServerDialogue::greet() { send(replies::greeting(settings_.hostname), ""); }

void ServerDialogue::accept_hello(const std::vector<std::string>& auth_mechanisms) {
  if (asked_ != Asked::hello) throw std::logic_error("ServerDialogue::accept_hello() without EHLO/HELO");
  asked_ = Asked::none;
  // RFC 5321 §4.1.4: EHLO resets the state as RSET does.
  reset_transaction();
  session_.helo = command_.argument;
  session_.esmtp = command_.verb == Verb::ehlo;
  send(session_.esmtp ? ehlo_reply(settings_, session_, command_.argument, auth_mechanisms)
                      : Reply{250, "", settings_.hostname});
  finish_command(command_.verb);
}

void ServerDialogue::accept(std::optional<Reply> instead, std::string cause) {
  switch (asked_) {
    case Asked::mail:
      asked_ = Asked::none;
      transaction_.emplace();
      transaction_->reverse_path = std::move(command_.path);
      transaction_->parameters = std::move(command_.mail);
      send(instead ? std::move(*instead) : replies::sender_ok(), "reject", std::move(cause));
      break;
    case Asked::rcpt:
      asked_ = Asked::none;
      transaction_->recipients.push_back(command_.path.postmaster ? std::string("postmaster")
                                                                  : command_.path.mailbox.str());
      send(instead ? std::move(*instead) : replies::recipient_ok(), "", std::move(cause));
      break;
    case Asked::data:
      asked_ = Asked::none;
      send(instead ? std::move(*instead) : replies::start_data(), "", std::move(cause));
      data_ = std::make_unique<DataDecoder>(settings_.max_message_size);
      phase_ = Phase::data;
      body_open_ = true;
      bdat_ = false;
      body_size_ = 0;
      // The client waits for the 354 before it sends the message.
      pending_.push_back(event(Event::Kind::flush));
      pending_.push_back(event(Event::Kind::body_begin));
      return;
    default:
      throw std::logic_error("ServerDialogue::accept() without MAIL, RCPT or DATA");
  }
  finish_command(command_.verb);
}

void ServerDialogue::refuse(Reply reply, std::string cause) {
  switch (asked_) {
    case Asked::none:
      throw std::logic_error("ServerDialogue::refuse() without a question");
    case Asked::auth:
      auth_done(std::move(reply));
      return;
    case Asked::body_end:
      message_done(std::move(reply), std::move(cause));
      return;
    case Asked::starttls:
      // Refusing after 220 leaves nothing sensible: the connection ends.
      asked_ = Asked::none;
      send(std::move(reply), "reject", std::move(cause));
      closing_ = true;
      return;
    case Asked::rcpt:
      asked_ = Asked::none;
      send(std::move(reply), "", std::move(cause));  // the host logs RCPT with its reply
      break;
    default:
      asked_ = Asked::none;
      send(std::move(reply), "reject", std::move(cause));
      break;
  }
  finish_command(command_.verb);
}

void ServerDialogue::refuse_starttls(Reply reply, std::string cause) {
  if (asked_ != Asked::starttls) throw std::logic_error("ServerDialogue::refuse_starttls() without STARTTLS");
  for (auto it = out_.rbegin(); it != out_.rend(); ++it) {
    if (it->reply.code == 220) {
      out_.erase(std::next(it).base());
      break;
    }
  }
  asked_ = Asked::none;
  send(std::move(reply), "reject", std::move(cause));
  finish_command(Verb::starttls);
}

void ServerDialogue::challenge(std::string_view bytes) {
  if (asked_ != Asked::auth) throw std::logic_error("ServerDialogue::challenge() outside AUTH");
  asked_ = Asked::none;
  phase_ = Phase::auth;
  send(replies::auth_challenge(sasl::base64_encode(bytes)), "");
  pending_.push_back(event(Event::Kind::flush));
}

void ServerDialogue::auth_done(Reply reply, std::string identity, std::string cause) {
  if (asked_ != Asked::auth) throw std::logic_error("ServerDialogue::auth_done() outside AUTH");
  asked_ = Asked::none;
  phase_ = Phase::command;
  if (!identity.empty()) session_.auth_identity = std::move(identity);
  send(std::move(reply), "auth", std::move(cause));
  finish_command(Verb::auth);
}

void ServerDialogue::message_done(Reply reply, std::string cause) {
  if (asked_ != Asked::body_end) throw std::logic_error("ServerDialogue::message_done() without a message");
  asked_ = Asked::none;
  body_open_ = false;  // the host has finished with the body: nothing to abandon
  reset_transaction();
  send(std::move(reply), "reject", std::move(cause));
  finish_command(command_.verb);
}

void ServerDialogue::tls_started() {
  if (asked_ != Asked::starttls) throw std::logic_error("ServerDialogue::tls_started() without STARTTLS");
  asked_ = Asked::none;
  session_.tls = true;
  session_.helo.clear();
  session_.esmtp = false;
  session_.auth_identity.clear();
  reset_transaction();
}

void ServerDialogue::timed_out() {
  asked_ = Asked::none;
  send(replies::timeout(), "");
  phase_ = Phase::closed;
}

void ServerDialogue::shutting_down() {
  asked_ = Asked::none;
  send(replies::shutting_down(), "");
  phase_ = Phase::closed;
}

void ServerDialogue::close() {
  asked_ = Asked::none;
  closing_ = true;
}

void ServerDialogue::drop() {
  asked_ = Asked::none;
  out_.clear();
  pending_.clear();
  phase_ = Phase::closed;
}

}  // namespace postern::smtp
