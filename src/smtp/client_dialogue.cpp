#include "smtp/client_dialogue.hpp"

#include <stdexcept>

#include "sasl/base64.hpp"
#include "util/strings.hpp"

namespace postern::smtp {

using Kind = ClientEvent::Kind;
using Failure = ClientFailure::Kind;

namespace {

// Output buffers larger than this are given back once written.
constexpr std::size_t keep_octets = 64 * 1024;

ClientEvent event(Kind kind) {
  ClientEvent e;
  e.kind = kind;
  return e;
}
}  // namespace

// ---------------------------------------------------------------- Delivery

std::optional<Reply> Delivery::outcome(std::size_t i) const {
  if (mail && !mail->positive()) return mail;
  if (i < rcpt.size() && rcpt[i] && !rcpt[i]->positive()) return rcpt[i];
  if (i >= rcpt.size() || !rcpt[i] || !data) return std::nullopt;
  // LMTP: DATA was taken (354), and each recipient has its own reply after the dot.
  if (data->code == 354) return i < per_recipient.size() ? per_recipient[i] : std::nullopt;
  return data;
}

bool Delivery::delivered(std::size_t i) const {
  auto o = outcome(i);
  return o && o->code >= 200 && o->code < 300;
}

bool Delivery::all_delivered() const {
  for (std::size_t i = 0; i < rcpt.size(); ++i)
    if (!delivered(i)) return false;
  return !rcpt.empty();
}

// ---------------------------------------------------------------- operations

ClientDialogue::ClientDialogue(Limits limits)
    : limits_(limits), reader_(limits.max_reply_line_octets + 2) {}

void ClientDialogue::start() {
  // An operation the host gave up on (its I/O failed) is abandoned.
  awaiting_.clear();
  waiting_for_host_ = false;
  out_.clear();
  shown_.clear();
  parser_.reset();
  reply_lines_ = 0;
  finished_.reset();
  failure_.reset();
  events_.clear();
}

void ClientDialogue::open(std::string helo_name, TlsWant tls) {
  start();
  lmtp_ = false;
  helo_name_ = std::move(helo_name);
  tls_ = tls;
  tls_done_ = false;
  expect(Awaiting::greeting);
}

void ClientDialogue::open_lmtp(std::string lhlo_name, TlsWant tls) {
  open(std::move(lhlo_name), tls);
  lmtp_ = true;
}

void ClientDialogue::authenticate(std::string mechanism, std::optional<SaslAnswer> initial) {
  start();
  mechanism_ = std::move(mechanism);
  auth_rounds_ = 0;
  if (!initial) {
    command("AUTH " + mechanism_);
  } else {
    // RFC 4954 §4: "=" stands for an empty initial response.
    std::string ir = initial->octets.empty() ? "=" : sasl::base64_encode(initial->octets);
    std::string shown = "AUTH " + mechanism_ + " " + (initial->secret ? "<redacted>" : ir);
    if (!initial->secret && !initial->octets.empty())
      shown += "    [" + util::printable(initial->octets, 400) + "]";
    else if (initial->secret && !initial->hint.empty())
      shown += "    [" + initial->hint + "]";
    command("AUTH " + mechanism_ + " " + ir, std::move(shown));
  }
  expect(Awaiting::auth);
}

void ClientDialogue::verify(Outbound message) {
  message.data.clear();
  transaction(std::move(message), true);
}

void ClientDialogue::send(Outbound message) { transaction(std::move(message), false); }

void ClientDialogue::transaction(Outbound message, bool verifying) {
  start();
  verifying_ = verifying;
  message_ = std::move(message);
  delivery_ = Delivery{};
  delivery_.rcpt.assign(message_.recipients.size(), std::nullopt);
  if (lmtp_) delivery_.per_recipient.assign(message_.recipients.size(), std::nullopt);
  rcpt_sent_ = rcpt_answered_ = 0;
  if (message_.recipients.empty()) return fail(Failure::unsupported, "no recipients");
  if (message_.smtputf8 && !caps_.smtputf8)
    // RFC 6531 §3.2: a non-ASCII address must not go to a server without SMTPUTF8.
    return fail(Failure::unsupported, "an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)");

  std::string mail = "MAIL FROM:<" + message_.reverse_path + ">";
  if (caps_.size) mail += " SIZE=" + std::to_string(message_.data.size());  // RFC 1870 §6: an estimate is fine
  if (caps_.eightbitmime && message_.eight_bit) mail += " BODY=8BITMIME";  // RFC 6152
  if (message_.smtputf8) mail += " SMTPUTF8";
  command(std::move(mail));
  expect(Awaiting::mail);
  if (caps_.pipelining) {
    // RFC 2920 §3.1: MAIL, every RCPT and DATA in one group; DATA is last.
    while (rcpt_sent_ < message_.recipients.size()) next_rcpt();
    if (verifying_) {  // no message follows
      command("RSET");
      return expect(Awaiting::rset);
    }
    command("DATA");
    expect(Awaiting::data);
  }
}

void ClientDialogue::reset() {
  start();
  command("RSET");
  expect(Awaiting::rset);
}

void ClientDialogue::quit() {
  start();
  command("QUIT");
  expect(Awaiting::quit);
}

// ---------------------------------------------------------------- progress

ClientEvent ClientDialogue::next() {
  if (waiting_for_host_) throw std::logic_error("ClientDialogue::next() before the host answered");
  if (!events_.empty()) {
    ClientEvent e = std::move(events_.front());
    events_.pop_front();
    waiting_for_host_ = e.kind == Kind::start_tls || e.kind == Kind::challenge;
    return e;
  }
  if (!out_.empty()) {
    writing_.swap(out_);
    out_.clear();
    if (out_.capacity() > keep_octets) std::string().swap(out_);  // a body's buffer is not kept
    ClientEvent e = event(Kind::write);
    e.wire = writing_;
    e.shown.swap(shown_);
    return e;
  }
  if (finished_) {
    ClientEvent e = event(*finished_);
    finished_.reset();
    return e;
  }
  if (awaiting_.empty()) return event(Kind::idle);

  auto r = reader_.next();
  if (r.status == LineReader::Status::too_long) {
    fail(Failure::protocol,
         "reply line longer than " + std::to_string(limits_.max_reply_line_octets) + " octets");
    return next();
  }
  if (r.status == LineReader::Status::need_more) {
    ClientEvent e = event(Kind::need_input);
    auto a = awaiting_.front();
    e.timer = a == Awaiting::dot || a == Awaiting::lmtp_dot || a == Awaiting::discard_dot ? ClientEvent::Timer::data
              : a == Awaiting::quit                             ? ClientEvent::Timer::goodbye
                                                                : ClientEvent::Timer::command;
    return e;
  }

  std::string line(r.line);
  ClientEvent e = event(Kind::line);
  e.text = util::printable(line, 1000);
  if (line.size() >= 4 && line.compare(0, 4, "334 ") == 0) {
    // RFC 4954 §4: the challenge is base64; show what it says.
    if (auto decoded = sasl::base64_decode(std::string_view(line).substr(4)))
      e.note = decoded->empty() ? "(empty challenge)" : "decoded: " + util::printable(*decoded, 400);
    else
      e.note = "(not valid base64)";
  }
  if (auto reply = parser_.feed(line)) {
    reply_lines_ = 0;
    const Awaiting answered = awaiting_.front();
    awaiting_.pop_front();
    on_reply(answered, *reply);
  } else if (parser_.failed()) {
    fail(Failure::protocol, parser_.error() + ": \"" + util::printable(line, 100) + "\"");
  } else if (++reply_lines_ >= limits_.max_reply_lines) {
    fail(Failure::protocol, "reply longer than " + std::to_string(limits_.max_reply_lines) + " lines");
  }
  return e;
}

// ---------------------------------------------------------------- replies

void ClientDialogue::on_reply(Awaiting answered, const Reply& r) {
  last_ = r;
  switch (answered) {
    case Awaiting::greeting:
      greeting_ = r;
      // RFC 5321 §3.1: 554 instead of 220 means "no service here".
      if (r.code != 220) return fail(Failure::reply, "the server refused the session", r);
      command((lmtp_ ? "LHLO " : "EHLO ") + helo_name_);
      return expect(Awaiting::ehlo);

    case Awaiting::ehlo:
      if (r.code == 250) {
        caps_ = parse_capabilities(r);
        return after_hello();
      }
      if (r.code == 421 || r.temporary()) return fail(Failure::reply, "the server refused EHLO", r);
      // RFC 2033 §4.1: an LMTP server knows no HELO.
      if (lmtp_) return fail(Failure::reply, "the server refused LHLO", r);
      // RFC 5321 §3.2: a server that does not know EHLO answers 5xx; fall back to HELO.
      command("HELO " + helo_name_);
      return expect(Awaiting::helo);

    case Awaiting::helo:
      if (r.code != 250) return fail(Failure::reply, "the server refused EHLO and HELO", r);
      caps_ = Capabilities{};
      return after_hello();

    case Awaiting::starttls:
      if (r.code != 220) {
        if (tls_ == TlsWant::required || r.code == 421) return fail(Failure::no_tls, "the server refused STARTTLS", r);
        info("STARTTLS refused; going on without TLS");
        return finish();
      }
      // Anything the server sent after its 220 would be read as if it came
      // through TLS: a response injection (the client side of CVE-2011-0411).
      if (reader_.has_buffered())
        return fail(Failure::protocol, "the server sent data after its 220 reply to STARTTLS");
      events_.push_back(event(Kind::start_tls));
      return;

    case Awaiting::auth: {
      if (r.code == 235) return finish();
      if (r.code == 421) return fail(Failure::reply, "the server is closing the connection", r);
      if (r.code != 334) return fail(Failure::auth, "authentication with " + mechanism_ + " failed", r);
      if (auth_rounds_ >= limits_.max_auth_rounds)
        return fail(Failure::protocol, "the server sent too many AUTH challenges", r);
      auto challenge = sasl::base64_decode(util::trim(r.text()));
      if (!challenge) return abandon("the server's 334 challenge is not valid base64");
      ++auth_rounds_;
      ClientEvent e = event(Kind::challenge);
      e.text = std::move(*challenge);
      events_.push_back(std::move(e));
      return;
    }

    case Awaiting::auth_cancel:
      return fail(Failure::auth, cancel_why_);

    case Awaiting::mail:
      if (!positive_or_refusal(r, 2, "MAIL")) return;
      delivery_.mail = r;
      if (caps_.pipelining) return;  // the RCPT and DATA replies follow
      if (!r.positive()) return after_transaction();
      return next_rcpt();

    case Awaiting::rcpt:
      if (!positive_or_refusal(r, 2, "RCPT")) return;
      delivery_.rcpt[rcpt_answered_++] = r;
      if (caps_.pipelining) return;
      if (rcpt_sent_ < message_.recipients.size()) return next_rcpt();
      return after_rcpts();

    case Awaiting::data:
      if (!positive_or_refusal(r, 3, "DATA")) return;
      if (r.code != 354) {
        delivery_.data = r;
        return after_transaction();
      }
      if (!delivery_.mail->positive() || !any_recipient_accepted()) {
        // RFC 2920 §3.1: DATA was accepted though nothing else was; send an
        // empty message so the server discards the transaction.
        command(".");
        return expect(Awaiting::discard_dot);
      }
      shown_.push_back("(message: " + std::to_string(message_.message_octets) + " octets)");
      shown_.push_back(".");
      if (out_.empty())
        out_.swap(message_.data);  // the body goes out as it is, not copied
      else
        out_.append(message_.data);
      message_.data = std::string();
      if (!lmtp_) return expect(Awaiting::dot);
      // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
      delivery_.data = r;
      lmtp_next_ = 0;
      next_lmtp_reply();
      for (auto& rc : delivery_.rcpt)
        if (rc && rc->positive()) expect(Awaiting::lmtp_dot);
      return;

    case Awaiting::dot:
      if (!positive_or_refusal(r, 2, "the end of DATA")) return;
      delivery_.data = r;
      return finish();

    case Awaiting::lmtp_dot:
      if (!positive_or_refusal(r, 2, "the end of DATA")) return;
      delivery_.per_recipient[lmtp_next_++] = r;
      next_lmtp_reply();
      if (awaiting_.empty()) return finish();
      return;

    case Awaiting::discard_dot:
      return after_transaction();

    case Awaiting::rset:
      if (r.code != 250) return fail(Failure::reply, "the server refused RSET", r);
      return finish();

    case Awaiting::quit:
      return finish();
  }
}

void ClientDialogue::after_hello() {
  if (tls_done_) return finish();
  bool want = tls_ == TlsWant::required || (tls_ == TlsWant::if_offered && caps_.starttls);
  if (!want) return finish();
  if (!caps_.starttls) return fail(Failure::no_tls, "the server does not offer STARTTLS");
  command("STARTTLS");
  expect(Awaiting::starttls);
}

void ClientDialogue::next_rcpt() {
  command("RCPT TO:<" + message_.recipients[rcpt_sent_++] + ">");
  expect(Awaiting::rcpt);
}

void ClientDialogue::after_rcpts() {
  if (verifying_ || !any_recipient_accepted()) return after_transaction();
  command("DATA");
  expect(Awaiting::data);
}

void ClientDialogue::next_lmtp_reply() {
  const auto& rcpt = delivery_.rcpt;
  while (lmtp_next_ < rcpt.size() && !(rcpt[lmtp_next_] && rcpt[lmtp_next_]->positive())) ++lmtp_next_;
}

void ClientDialogue::after_transaction() {
  message_.data = std::string();  // it will not be sent
  // The server still holds a transaction (or may); start clean for the next one.
  command("RSET");
  expect(Awaiting::rset);
}

bool ClientDialogue::positive_or_refusal(const Reply& r, int cls, std::string_view what) {
  if (r.code / 100 == cls || (r.code >= 400 && r.code != 421)) return true;  // a refusal: recorded
  if (r.code == 421)
    fail(Failure::reply, "the server is closing the connection", r);
  else
    fail(Failure::protocol, "unexpected reply to " + std::string(what), r);
  return false;
}

bool ClientDialogue::any_recipient_accepted() const {
  for (auto& r : delivery_.rcpt)
    if (r && r->positive()) return true;
  return false;
}

// ---------------------------------------------------------------- answers

void ClientDialogue::tls_started() {
  waiting_for_host_ = false;
  // RFC 3207 §4.2: forget everything learnt before TLS and say EHLO again.
  tls_done_ = true;
  caps_ = Capabilities{};
  command("EHLO " + helo_name_);
  expect(Awaiting::ehlo);
}

void ClientDialogue::answer(const SaslAnswer& a) {
  waiting_for_host_ = false;
  std::string wire = sasl::base64_encode(a.octets);
  std::string shown = a.secret ? "<redacted>" : wire;
  if (!a.hint.empty())
    shown += "    [" + a.hint + "]";
  else if (!a.secret && !a.octets.empty())
    shown += "    [" + util::printable(a.octets, 400) + "]";
  else if (!a.secret)
    shown = "(empty response)";
  command(std::move(wire), std::move(shown));
  expect(Awaiting::auth);
}

void ClientDialogue::cancel(std::string why) {
  waiting_for_host_ = false;
  abandon(std::move(why));
}

void ClientDialogue::abandon(std::string why) {
  // RFC 4954 §4: "*" cancels the exchange; the server answers 501.
  cancel_why_ = std::move(why);
  command("*");
  expect(Awaiting::auth_cancel);
}

// ---------------------------------------------------------------- helpers

void ClientDialogue::command(std::string line, std::string shown) {
  out_ += line;
  out_ += "\r\n";
  shown_.push_back(shown.empty() ? std::move(line) : std::move(shown));
}

void ClientDialogue::info(std::string text) {
  ClientEvent e = event(Kind::info);
  e.text = std::move(text);
  events_.push_back(std::move(e));
}

void ClientDialogue::fail(Failure kind, std::string message, std::optional<Reply> reply) {
  failure_ = ClientFailure{kind, std::move(message), std::move(reply)};
  awaiting_.clear();
  out_.clear();
  shown_.clear();
  finished_ = Kind::failed;
}

}  // namespace postern::smtp
