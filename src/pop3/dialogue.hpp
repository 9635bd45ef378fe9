// The server side of a POP3 dialogue as a state machine without I/O
// (RFC 1939; CAPA and response codes RFC 2449, 3206; STLS RFC 2595; SASL
// AUTH RFC 5034), in the shape of smtp::ServerDialogue: bytes go in with
// receive() (or prepare()/commit()); next() says what happens next: "need
// more input", "write now", "close", or a question for the host (hand-shake
// TLS; check USER/PASS; run this SASL step). The host answers with
// tls_started()/challenge()/logged_in()/login_failed(); the replies queue
// in replies() for the host to write.
//
// States (RFC 1939 §3): AUTHORIZATION (with the name of a USER, and the
// "+ " exchange of an AUTH under way), TRANSACTION (a maildrop is open;
// DELE marks, RSET unmarks), and the end: QUIT in TRANSACTION is the
// UPDATE state, which removes what was marked; any other end (timeout,
// shutdown, a dropped connection) removes nothing.
//
// Limits: command lines of 255 octets (RFC 2449 §4), AUTH lines and the
// answers to "+ " of 12288; a longer line gets -ERR and is skipped to its
// end. Every -ERR for a line that is no valid command here counts; the
// max_errors-th closes the session. Replies are held while pipelined
// input is buffered (RFC 2449 §6.6) and written when it runs dry, and
// after every multi-line reply (a RETR is written before the next is read).
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pop3/command.hpp"
#include "pop3/maildrop.hpp"
#include "pop3/reply.hpp"
#include "smtp/line_reader.hpp"

namespace postern::pop3 {

struct DialogueSettings {
  std::string hostname;
  bool stls_offered = false;  // the listener speaks STLS
  bool tls = false;           // TLS from the start
  unsigned max_errors = 0;    // 0: no limit
};

struct Event {
  enum class Kind {
    need_input,     // write the replies, then receive() more bytes
    flush,          // write the replies now
    close,          // write the replies, then close the connection
    bad_command,    // a line was refused: `text` its verb if a known one (never the arguments), `size` its octets
    stls,           // "+OK" is queued and buffered plaintext dropped (`size` octets): write it,
                    // hand-shake, then tls_started() or close
    login,          // USER `user`, PASS `text`: logged_in() or login_failed()
    auth,           // AUTH `text` ("MECH [initial-response]"): challenge(), logged_in() or login_failed()
    auth_response,  // the decoded answer to a "+ " challenge: `text`
  };
  Kind kind = Kind::need_input;
  std::string text;
  std::string user;
  std::size_t size = 0;
};

class Dialogue {
 public:
  enum class Phase { authorization, auth, transaction, closed };

  explicit Dialogue(DialogueSettings settings);
  ~Dialogue();
  Dialogue(const Dialogue&) = delete;
  Dialogue& operator=(const Dialogue&) = delete;

  // ---- Input ----
  void receive(std::string_view bytes) { reader_.append(bytes); }
  std::span<char> prepare(std::size_t n) { return reader_.prepare(n); }
  void commit(std::size_t n) { reader_.commit(n); }
  bool has_buffered() const { return reader_.has_buffered(); }
  void release_if_empty() { reader_.release_if_empty(); }

  // ---- Progress ----
  // The next thing to do. After a question (stls, login, auth,
  // auth_response) the host answers before calling next() again.
  Event next();

  // ---- Answers ----
  void greet();
  // The SASL mechanisms CAPA lists and AUTH alone names (they may change with TLS).
  void set_mechanisms(std::vector<std::string> mechanisms) { mechanisms_ = std::move(mechanisms); }
  void tls_started();  // RFC 2595 §4: back to the start of AUTHORIZATION, under TLS
  void challenge(std::string_view bytes);  // "+ " and base64; the next line is the answer
  // Authenticated as `identity`: the maildrop opens (TRANSACTION).
  void logged_in(std::string identity, std::unique_ptr<Maildrop> maildrop);
  // Not authenticated: `reply` (an -ERR); `close` ends the session after it.
  void login_failed(Reply reply, bool close = false);
  // The host ends the dialogue: idle too long, shutting down; nothing is removed.
  void timed_out();
  void shutting_down();
  void drop();  // at once, without the replies queued so far
  // Queues a reply outside any question (the host's -ERR before the greeting).
  void send(Reply reply);

  // ---- Output ----
  std::vector<Reply>& replies() { return out_; }

  // ---- State ----
  Phase phase() const { return phase_; }
  bool deciding() const { return asked_ != Asked::none; }
  bool tls() const { return tls_; }
  const std::string& identity() const { return identity_; }
  bool quit() const { return quit_; }
  // Marked by DELE in this session, not yet removed.
  std::size_t marked() const;
  // Removed at QUIT.
  std::size_t removed() const { return removed_; }

 private:
  enum class Asked { none, stls, login, auth };
  struct Message {
    MaildropEntry entry;
    bool deleted = false;
  };

  std::optional<Event> on_line(std::string_view line);
  std::optional<Event> authorization(Command& command);
  void transaction(Command& command);
  void refuse(Reply reply);  // a line that is no valid command here: counted
  // The message numbered `number`, or nullptr after queueing the -ERR.
  Message* message(std::size_t number);
  void update();
  Reply capabilities() const;
  std::pair<std::size_t, std::uint64_t> totals() const;  // not marked: count, octets
  std::string stat_text() const;
  std::string size_text() const;  // "2 messages (320 octets)"

  DialogueSettings settings_;
  smtp::LineReader reader_;
  Phase phase_ = Phase::authorization;
  Asked asked_ = Asked::none;
  bool tls_ = false;
  std::vector<std::string> mechanisms_;
  std::optional<std::string> user_;  // USER given, PASS expected
  std::string identity_;
  std::unique_ptr<Maildrop> maildrop_;
  std::vector<Message> messages_;
  std::deque<Event> pending_;
  std::vector<Reply> out_;
  unsigned errors_ = 0;
  std::size_t removed_ = 0;
  bool quit_ = false;
  bool closing_ = false;
};

}  // namespace postern::pop3
