// The server side of an SMTP dialogue as a state machine without I/O
// (RFC 5321 §4.1, §4.3.2; RFC 2920, 3030, 3207, 4954). Bytes go in with
// receive() (or prepare()/commit()); next() says what happens next:
// "need more input", "write now", "close", or a question for the host
// (accept this EHLO, MAIL, RCPT, DATA? run this SASL step; hand-shake TLS;
// store these message octets; the message is complete). The host answers
// with accept()/refuse()/challenge()/auth_done()/message_done()/
// tls_started(); every reply it chooses goes through the dialogue, which
// queues it in replies() for the host to write.
//
// The dialogue decides what is protocol: syntax (smtp/command), sequence
// (smtp/sequence, the command table), line limits (512 for commands,
// 12288 for AUTH lines), the SIZE and recipient limits, the max_errors-th
// error (421), the AUTH exchange ("*" cancels, strict base64), and one
// body path for DATA and BDAT (same size cap, same bare CR/LF and NUL
// rule), and the pipelining allowed behind the final dot. The
// host decides what is policy (checks, SASL credentials, storage) and does
// the I/O, the timeouts and the logging. Every fixed reply comes from
// smtp/replies.hpp.
//
// States (Phase): command → (deciding) → command; data / chunk (body);
// auth (a 334 is out, the answer line is next); closed. Session state
// (who the client is) lives in the host's SessionState, which only the
// dialogue writes; transaction state in the dialogue's Transaction.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/command.hpp"
#include "smtp/data_decoder.hpp"
#include "smtp/line_reader.hpp"
#include "smtp/reply.hpp"
#include "smtp/sequence.hpp"

namespace postern::smtp {

// Who the client is, as far as the dialogue has established it.
struct SessionState {
  bool tls = false;           // TLS active (implicit, or after STARTTLS)
  bool esmtp = false;         // EHLO (not HELO) was used
  std::string helo;           // the EHLO/HELO argument; "" before it
  std::string auth_identity;  // "" when not authenticated

  bool authenticated() const { return !auth_identity.empty(); }
};

// The open transaction.
struct Transaction {
  Path reverse_path;
  MailParameters parameters;
  std::vector<std::string> recipients;  // accepted so far, as Path::str() ("postmaster" for <postmaster>)
};

struct DialogueSettings {
  std::string hostname;
  std::uint64_t max_message_size = 0;
  std::size_t max_recipients = 0;
  unsigned max_errors = 0;        // 0: no limit
  bool starttls_offered = false;  // the listener speaks STARTTLS
  bool report_lines = false;      // emit Event::line for every line read (transcripts)
  // RFC 2920 §3.1 as Postfix's smtpd_forbid_unauth_pipelining: a client
  // that is not authenticated and sends commands behind the final dot of
  // DATA, before its reply, gets 554 5.5.0 for the message and is
  // disconnected (QUIT alone there is tolerated).
  bool forbid_unauth_pipelining = false;
};

// A reply the dialogue queued, with what the host should log about it.
struct Outgoing {
  Reply reply;
  // The log event: "reject" logs only 4xx/5xx; "" never; others always.
  std::string_view event;
  std::string cause;     // what chose it (the host's label), for transcripts
  std::string replaced;  // the summary of the reply the max_errors-th 421 replaced
};

struct Event {
  enum class Kind {
    need_input,      // flush the replies, then receive() more bytes
    flush,           // write the replies now: the client waits for them (RFC 2920 §3.1)
    close,           // write the replies, then close the connection
    line,            // a line from the client, as read (report_lines): `text`
    bad_command,     // a line that is no command was answered: `text` its verb for the log if a known
                     // one (never its arguments: they may be a password), `size` its octets
    hello,           // EHLO/HELO `command`: accept_hello() or refuse()
    mail,            // MAIL `command` (in sequence, within limits): accept() or refuse()
    rcpt,            // RCPT `command`: accept() or refuse()
    data,            // DATA: accept() (354, body follows) or refuse()
    starttls,        // 220 is queued and buffered plaintext dropped (`discarded` octets):
                     // write it, hand-shake, then tls_started() or close
    auth,            // AUTH `command` in sequence: the host starts SASL: challenge() or auth_done()
    auth_response,   // the decoded answer to a 334: `text`: challenge() or auth_done()
    auth_cancelled,  // "*" in answer to a 334 (RFC 4954 §4): auth_done(), with a 501
    body_begin,      // a message body starts (after 354, or the first BDAT chunk)
    body,            // decoded message octets: `text`
    body_end,        // the message is complete and clean (`size` octets): message_done()
    body_abandoned,  // the body is void (too big, bare CR/LF, NUL, transaction reset): drop what was stored
  };
  Kind kind = Kind::need_input;
  std::string text;
  const Command* command = nullptr;  // valid until the host answers
  std::uint64_t size = 0;            // body_end: octets; starttls: discarded octets
};

class ServerDialogue {
 public:
  enum class Phase { command, deciding, data, chunk, auth, closed };

  // `session` is the host's; the dialogue is its only writer.
  ServerDialogue(DialogueSettings settings, SessionState& session);
  ~ServerDialogue();
  ServerDialogue(const ServerDialogue&) = delete;
  ServerDialogue& operator=(const ServerDialogue&) = delete;

  // ---- Input ----
  void receive(std::string_view bytes) { reader_.append(bytes); }
  std::span<char> prepare(std::size_t n) { return reader_.prepare(n); }
  void commit(std::size_t n) { reader_.commit(n); }
  bool has_buffered() const { return reader_.has_buffered(); }
  void release_if_empty() { reader_.release_if_empty(); }

  // ---- Progress ----
  // The next thing to do. After a question (hello … auth_response,
  // body_end) the host answers before calling next() again.
  Event next();

  // ---- Answers ----
  void greet();                                     // 220 (the host may first refuse the connection)
  void accept_hello(const std::vector<std::string>& auth_mechanisms);
  // MAIL, RCPT, DATA: as asked. `instead` replaces the usual 2xx (RCPT:
  // a positive reply still takes the recipient).
  void accept(std::optional<Reply> instead = std::nullopt, std::string cause = {});
  // Any question: answer `reply` instead; the state does not move (a body
  // question ends the transaction).
  void refuse(Reply reply, std::string cause = {});
  // STARTTLS answered otherwise before its 220 was written (the testbed's
  // rules): the 220 is withdrawn, `reply` answers, the session goes on in
  // plaintext (a 421 closes it, as always).
  void refuse_starttls(Reply reply, std::string cause = {});
  void challenge(std::string_view bytes);           // 334 + base64; the next line is an answer
  // The end of an AUTH exchange; a non-empty identity means authenticated.
  void auth_done(Reply reply, std::string identity = {}, std::string cause = {});
  void message_done(Reply reply, std::string cause = {});
  void tls_started();  // RFC 3207 §4.2: forget everything learnt before TLS
  // The host ends the dialogue: timeout (421 4.4.2), shutdown (421 4.3.2), or silently.
  void timed_out();
  void shutting_down();
  void close();  // after the replies queued so far
  void drop();   // at once, without the replies queued so far
  // Queues a reply outside any question (the host's own 421 before the greeting).
  void send(Reply reply, std::string_view event = "reject", std::string cause = {});

  // ---- Output ----
  std::vector<Outgoing>& replies() { return out_; }

  // ---- State ----
  Phase phase() const { return asked_ != Asked::none && phase_ != Phase::closed ? Phase::deciding : phase_; }
  bool in_transaction() const { return transaction_.has_value(); }
  bool in_body() const { return phase_ == Phase::data || phase_ == Phase::chunk || body_open_; }
  const Transaction* transaction() const { return transaction_ ? &*transaction_ : nullptr; }
  const SessionState& session() const { return session_; }
  DialogueState state() const;
  bool quit() const { return quit_; }

 private:
  enum class Asked { none, hello, mail, rcpt, data, starttls, auth, body_end };

  std::optional<Event> on_line(std::string_view line);
  std::optional<Event> on_command(Command command);
  std::optional<Event> on_body();
  bool pipelined_behind_dot() const;
  std::optional<Event> ask(Asked what, Event::Kind kind, Command command);
  void finish_command(Verb verb);
  void reset_transaction();
  void end_body();

  DialogueSettings settings_;
  SessionState& session_;
  LineReader reader_;
  Phase phase_ = Phase::command;
  Asked asked_ = Asked::none;
  Command command_;  // the command being asked about
  std::optional<Transaction> transaction_;
  std::deque<Event> pending_;
  std::vector<Outgoing> out_;
  std::optional<std::string> held_;  // a line reported (report_lines), handled on the next call

  // The message body, one path for DATA and BDAT.
  std::unique_ptr<DataDecoder> data_;
  std::unique_ptr<ChunkDecoder> chunk_;
  std::string chunk_out_;
  std::optional<Reply> chunk_refusal_;  // the chunk came out of sequence: read and dropped
  bool body_open_ = false;         // body_begin told, not yet ended
  bool bdat_ = false;              // and it comes in BDAT chunks
  std::uint64_t body_size_ = 0;
  BareLineEndScanner line_ends_;

  unsigned errors_ = 0;
  bool quit_ = false;
  bool closing_ = false;
};

}  // namespace postern::smtp
