#include "pop3/dialogue.hpp"

#include <stdexcept>

#include "sasl/auth_line.hpp"
#include "sasl/base64.hpp"
#include "sasl/secrets.hpp"

namespace postern::pop3 {
namespace {

Event event(Event::Kind kind, std::string text = {}) {
  Event e;
  e.kind = kind;
  e.text = std::move(text);
  return e;
}

// What the line reader must allow so that a too-long command and a
// too-long AUTH line can both be told apart from a line that fits.
constexpr std::size_t max_line_octets = max_auth_octets + 2;

}  // namespace

Dialogue::Dialogue(DialogueSettings settings)
    : settings_(std::move(settings)), reader_(max_line_octets), tls_(settings_.tls) {}

Dialogue::~Dialogue() = default;

std::size_t Dialogue::marked() const {
  std::size_t n = 0;
  for (const auto& m : messages_) n += m.deleted;
  return n;
}

void Dialogue::send(Reply reply) { out_.push_back(std::move(reply)); }

void Dialogue::refuse(Reply reply) {
  // Count lines that are no valid command here; the max_errors-th ends the session.
  ++errors_;
  if (settings_.max_errors && errors_ >= settings_.max_errors) {
    reply = Reply::err("Too many errors, closing connection");
    closing_ = true;
  }
  out_.push_back(std::move(reply));
}

Event Dialogue::next() {
  for (;;) {
    if (!pending_.empty()) {
      Event e = std::move(pending_.front());
      pending_.pop_front();
      return e;
    }
    if (asked_ != Asked::none) throw std::logic_error("pop3::Dialogue::next() before the host answered");
    if (closing_ || phase_ == Phase::closed) {
      phase_ = Phase::closed;
      return event(Event::Kind::close);
    }
    auto r = reader_.next();
    if (r.status == smtp::LineReader::Status::need_more) return event(Event::Kind::need_input);
    if (r.status == smtp::LineReader::Status::too_long) {
      if (phase_ == Phase::auth) {
        phase_ = Phase::authorization;
        refuse(Reply::err("Authentication exchange line is too long"));
      } else {
        refuse(Reply::err("Line too long"));
      }
      Event e = event(Event::Kind::bad_command, std::string(known_verb(reader_.overlong_head())));
      e.size = reader_.limit();
      return e;
    }
    if (auto e = on_line(r.line)) return std::move(*e);
  }
}

std::optional<Event> Dialogue::on_line(std::string_view line) {
  if (phase_ == Phase::auth) {
    // RFC 5034 §4: "*" cancels; anything else must be base64.
    phase_ = Phase::authorization;
    auto response = sasl::decode_response(line);
    if (std::holds_alternative<sasl::Cancelled>(response)) {
      send(Reply::err("Authentication cancelled"));
      return std::nullopt;
    }
    if (std::holds_alternative<sasl::BadBase64>(response)) {
      refuse(Reply::err("Cannot decode response"));
      return std::nullopt;
    }
    asked_ = Asked::auth;
    return event(Event::Kind::auth_response, std::move(std::get<std::string>(response)));
  }
  auto parsed = parse_command(line);
  if (auto* r = std::get_if<Reply>(&parsed)) {
    refuse(std::move(*r));
    // The arguments may be a password (PASS, AUTH): only a known verb is told.
    Event e = event(Event::Kind::bad_command, std::string(known_verb(line)));
    e.size = line.size();
    return e;
  }
  auto& command = std::get<Command>(parsed);
  if (phase_ == Phase::authorization) {
    auto e = authorization(command);
    if (command.verb == Verb::pass) sasl::wipe(command.argument);
    return e;
  }
  transaction(command);
  return std::nullopt;
}

std::optional<Event> Dialogue::authorization(Command& c) {
  switch (c.verb) {
    case Verb::capa:
      send(capabilities());
      break;
    case Verb::quit:
      quit_ = true;
      closing_ = true;
      send(Reply::ok("Bye"));
      break;
    case Verb::stls: {
      if (!settings_.stls_offered) {
        refuse(Reply::err("STLS not offered"));
        break;
      }
      if (tls_) {
        refuse(Reply::err("TLS already active"));
        break;
      }
      send(Reply::ok("Begin TLS negotiation"));
      // RFC 2595 §4 / CVE-2011-0411: nothing sent before the handshake is
      // read after it.
      Event e = event(Event::Kind::stls);
      e.size = reader_.buffered().size();
      reader_.discard();
      asked_ = Asked::stls;
      return e;
    }
    case Verb::user:
      user_ = std::move(c.argument);
      send(Reply::ok("Send the password with PASS"));
      break;
    case Verb::pass: {
      if (!user_) {
        refuse(Reply::err("Send USER first"));
        break;
      }
      Event e = event(Event::Kind::login, c.argument);
      e.user = std::move(*user_);
      user_.reset();
      asked_ = Asked::login;
      return e;
    }
    case Verb::auth: {
      user_.reset();
      if (c.argument.empty()) {
        // Before CAPA, clients asked "AUTH" for the mechanisms (as Dovecot answers it).
        std::string lines;
        for (const auto& m : mechanisms_) lines += m + "\r\n";
        Reply r = Reply::ok("Mechanisms follow");
        r.body = multiline_lines(lines);
        send(std::move(r));
        pending_.push_back(event(Event::Kind::flush));
        break;
      }
      asked_ = Asked::auth;
      return event(Event::Kind::auth, std::move(c.argument));
    }
    case Verb::apop:
      refuse(Reply::err("APOP is not supported; use USER/PASS or AUTH"));
      break;
    default:
      refuse(Reply::err("Log in first (USER and PASS, or AUTH)"));
      break;
  }
  return std::nullopt;
}

Dialogue::Message* Dialogue::message(std::size_t number) {
  if (number == 0 || number > messages_.size()) {
    send(Reply::err("No such message"));
    return nullptr;
  }
  auto& m = messages_[number - 1];
  if (m.deleted) {
    send(Reply::err("Message " + std::to_string(number) + " already deleted"));
    return nullptr;
  }
  return &m;
}

void Dialogue::transaction(Command& c) {
  switch (c.verb) {
    case Verb::capa:
      send(capabilities());
      break;
    case Verb::noop:
      send(Reply::ok(""));
      break;
    case Verb::stat:
      send(Reply::ok(stat_text()));
      break;
    case Verb::list:
    case Verb::uidl: {
      const bool uidl = c.verb == Verb::uidl;
      auto column = [uidl](const Message& m) { return uidl ? m.entry.uid : std::to_string(m.entry.octets); };
      if (c.number) {
        if (auto* m = message(*c.number)) send(Reply::ok(std::to_string(*c.number) + " " + column(*m)));
        break;
      }
      std::string lines;
      for (std::size_t i = 0; i < messages_.size(); ++i)
        if (!messages_[i].deleted) lines += std::to_string(i + 1) + " " + column(messages_[i]) + "\r\n";
      Reply r = Reply::ok(uidl ? std::string("Unique-ID listing follows") : size_text());
      r.body = multiline_lines(lines);
      send(std::move(r));
      pending_.push_back(event(Event::Kind::flush));
      break;
    }
    case Verb::retr:
    case Verb::top: {
      auto* m = message(*c.number);
      if (!m) break;
      std::optional<std::string> content;
      try {
        content = maildrop_->content(m->entry.uid);
      } catch (const std::exception&) {
        send(Reply::err("Cannot read the message now, try again later", "SYS/TEMP"));
        break;
      }
      if (!content) {
        send(Reply::err("Message " + std::to_string(*c.number) + " was removed meanwhile"));
        break;
      }
      Reply r = c.verb == Verb::retr ? Reply::ok(std::to_string(octets(*content)) + " octets")
                                     : Reply::ok("Top of message follows");
      r.body = c.verb == Verb::retr ? multiline(*content) : multiline(*content, c.lines);
      send(std::move(r));
      pending_.push_back(event(Event::Kind::flush));  // one message at a time in memory
      break;
    }
    case Verb::dele:
      if (auto* m = message(*c.number)) {
        m->deleted = true;
        send(Reply::ok("Message " + std::to_string(*c.number) + " deleted"));
      }
      break;
    case Verb::rset:
      for (auto& m : messages_) m.deleted = false;
      send(Reply::ok("Maildrop has " + size_text()));
      break;
    case Verb::quit:
      update();
      break;
    case Verb::stls:
      refuse(Reply::err("STLS only before login"));
      break;
    case Verb::user:
    case Verb::pass:
    case Verb::apop:
    case Verb::auth:
      refuse(Reply::err("Already logged in"));
      break;
  }
}

// RFC 1939 §6: the UPDATE state, entered only by QUIT in TRANSACTION.
void Dialogue::update() {
  quit_ = true;
  closing_ = true;
  std::vector<std::string> uids;
  for (const auto& m : messages_)
    if (m.deleted) uids.push_back(m.entry.uid);
  if (uids.empty()) {
    send(Reply::ok("Bye"));
    return;
  }
  std::optional<std::size_t> removed;
  try {
    removed = maildrop_->remove(uids);
  } catch (const std::exception&) {
    removed.reset();
  }
  if (!removed) {
    send(Reply::err("Some deleted messages not removed", "SYS/TEMP"));
    return;
  }
  removed_ = *removed;
  send(Reply::ok("Bye, " + std::to_string(*removed) + " message" + (*removed == 1 ? "" : "s") + " removed"));
}

std::pair<std::size_t, std::uint64_t> Dialogue::totals() const {
  std::size_t count = 0;
  std::uint64_t octets = 0;
  for (const auto& m : messages_) {
    if (m.deleted) continue;
    ++count;
    octets += m.entry.octets;
  }
  return {count, octets};
}

// RFC 1939 §5 STAT: "nn mm".
std::string Dialogue::stat_text() const {
  const auto [count, octets] = totals();
  return std::to_string(count) + " " + std::to_string(octets);
}

std::string Dialogue::size_text() const {
  const auto [count, octets] = totals();
  return std::to_string(count) + (count == 1 ? " message (" : " messages (") + std::to_string(octets) + " octets)";
}

// RFC 2449 §5, §6; RFC 2595 §4 (STLS); RFC 5034 §3 (SASL).
Reply Dialogue::capabilities() const {
  std::string lines = "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
  if (phase_ != Phase::transaction) {
    lines += "USER\r\n";
    if (!mechanisms_.empty()) {
      lines += "SASL";
      for (const auto& m : mechanisms_) lines += " " + m;
      lines += "\r\n";
    }
    if (settings_.stls_offered && !tls_) lines += "STLS\r\n";
  }
  lines += "IMPLEMENTATION Postern\r\n";
  Reply r = Reply::ok("Capability list follows");
  r.body = multiline_lines(lines);
  return r;
}

void Dialogue::greet() { send(Reply::ok(settings_.hostname + " POP3 Postern ready")); }

void Dialogue::tls_started() {
  if (asked_ != Asked::stls) throw std::logic_error("pop3::Dialogue::tls_started() without STLS");
  asked_ = Asked::none;
  tls_ = true;
  user_.reset();
}

void Dialogue::challenge(std::string_view bytes) {
  if (asked_ != Asked::auth) throw std::logic_error("pop3::Dialogue::challenge() outside AUTH");
  asked_ = Asked::none;
  phase_ = Phase::auth;
  send(Reply::challenge(sasl::base64_encode(bytes)));
  pending_.push_back(event(Event::Kind::flush));
}

void Dialogue::logged_in(std::string identity, std::unique_ptr<Maildrop> maildrop) {
  if (asked_ != Asked::login && asked_ != Asked::auth) throw std::logic_error("pop3::Dialogue::logged_in() without a login");
  asked_ = Asked::none;
  std::vector<MaildropEntry> entries;
  try {
    entries = maildrop->entries();
  } catch (const std::exception&) {
    phase_ = Phase::authorization;
    send(Reply::err("Cannot open the maildrop now, try again later", "SYS/TEMP"));
    return;
  }
  phase_ = Phase::transaction;
  identity_ = std::move(identity);
  maildrop_ = std::move(maildrop);
  messages_.clear();
  for (auto& e : entries) messages_.push_back(Message{std::move(e), false});
  send(Reply::ok("Logged in, " + size_text()));
}

void Dialogue::login_failed(Reply reply, bool close) {
  if (asked_ != Asked::login && asked_ != Asked::auth) throw std::logic_error("pop3::Dialogue::login_failed() without a login");
  asked_ = Asked::none;
  phase_ = Phase::authorization;
  send(std::move(reply));
  if (close) closing_ = true;
}

void Dialogue::timed_out() {
  asked_ = Asked::none;
  send(Reply::err("Disconnected for inactivity"));
  phase_ = Phase::closed;
}

void Dialogue::shutting_down() {
  asked_ = Asked::none;
  send(Reply::err("Server shutting down", "SYS/TEMP"));
  phase_ = Phase::closed;
}

void Dialogue::drop() {
  asked_ = Asked::none;
  out_.clear();
  pending_.clear();
  phase_ = Phase::closed;
}

}  // namespace postern::pop3
