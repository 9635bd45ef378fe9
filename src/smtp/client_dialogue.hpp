// The client side of an SMTP dialogue as a state machine without I/O: the
// mirror of ServerDialogue (dialogue.hpp). The host starts an operation
// (open, authenticate, send, reset, quit), then calls next() until it says
// `done` or `failed`; on the way next() asks it to write command lines, to
// read more of the server's bytes (under the command or the DATA
// deadline), to hand-shake TLS, or to answer a SASL challenge.
//
// The dialogue decides what is protocol (RFC 5321 §3, §4; RFC 2920, 3207,
// 4954, 6531): the greeting, EHLO with the fall-back to HELO, when to
// STARTTLS and the EHLO after it, refusing a server that writes after its
// 220 to STARTTLS (the client side of CVE-2011-0411), the MAIL parameters
// (SIZE, BODY=8BITMIME, SMTPUTF8), pipelining MAIL, every RCPT and DATA in
// one group when offered, the empty message that ends a pipelined DATA
// nobody can use, RSET after a refused transaction, the 334 exchange
// ("*" cancels, at most max_auth_rounds), and the reply grammar with its
// line and size limits. What a failure means for delivery, the
// mechanisms, the deadlines and the I/O are the host's.
//
// LMTP (RFC 2033) is the same dialogue with two differences, chosen at
// open(): LHLO instead of EHLO (no HELO fall-back), and after the final
// dot one reply for each recipient whose RCPT was accepted, in RCPT order
// (Delivery::per_recipient). verify() asks about recipients without
// sending a message: MAIL, RCPT..., RSET (an LMTP server checks its
// users and their quota at RCPT).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/capabilities.hpp"
#include "smtp/line_reader.hpp"
#include "smtp/reply.hpp"

namespace postern::smtp {

// What the server answered in one mail transaction.
struct Delivery {
  std::optional<Reply> mail;               // reply to MAIL FROM
  std::vector<std::optional<Reply>> rcpt;  // reply to each RCPT TO (absent when not sent)
  std::optional<Reply> data;               // reply to DATA when refused, else to the final dot
  // LMTP: the reply after the final dot for each recipient (absent when
  // its RCPT was refused or the server stopped before it).
  std::vector<std::optional<Reply>> per_recipient;

  // The reply that decides recipient i: its RCPT refusal, a MAIL refusal,
  // else the DATA outcome (LMTP: its own reply after the dot). nullopt
  // when the transaction never got that far.
  std::optional<Reply> outcome(std::size_t i) const;
  bool delivered(std::size_t i) const;
  bool all_delivered() const;
};

// One message to send. `data` is already dot-stuffed and ends in CRLF.CRLF.
struct Outbound {
  std::string reverse_path;             // "" for <>
  std::vector<std::string> recipients;
  std::string data;
  std::size_t message_octets = 0;       // the message before stuffing (transcript)
  bool eight_bit = false;               // the message holds 8-bit octets (BODY=8BITMIME)
  bool smtputf8 = false;                // an address is not ASCII (RFC 6531)
};

struct ClientFailure {
  enum class Kind {
    protocol,     // malformed or unexpected reply
    reply,        // the server refused (greeting, EHLO, RSET, 421 ...)
    no_tls,       // TLS required but not offered or refused
    auth,         // authentication refused or abandoned
    unsupported,  // the message needs what the server lacks, or has no recipient
  };
  Kind kind;
  std::string message;         // one line for people
  std::optional<Reply> reply;  // the reply that caused it, when there is one
};

// A SASL answer (raw octets) and how the transcript shows it.
struct SaslAnswer {
  SaslAnswer(std::string octets = {}, bool secret = false, std::string hint = {})
      : octets(std::move(octets)), secret(secret), hint(std::move(hint)) {}
  std::string octets;
  bool secret = false;  // never shown
  std::string hint;     // shown beside the answer (a secret: instead of it), e.g. "c=biws,r=...,p=<redacted>"
};

struct ClientEvent {
  enum class Kind {
    idle,        // no operation under way
    write,       // send `wire`; `shown` are the lines for the transcript
    need_input,  // read more of the server's octets (under `timer`), then receive()
    line,        // a line the server sent, for the transcript: `text`, `note`
    info,        // something the dialogue chose, for the transcript: `text`
    start_tls,   // the server said 220 to STARTTLS: hand-shake, then tls_started()
    challenge,   // a 334: `text` is the decoded challenge; answer() or cancel()
    done,        // the operation finished (a refused transaction is done, see delivery())
    failed,      // the operation failed: failure()
  };
  enum class Timer { command, data, goodbye };
  Kind kind = Kind::idle;
  std::string_view wire;            // write: valid until the next call
  std::vector<std::string> shown;   // write
  std::string text;                 // line, info, challenge
  std::string note;                 // line: e.g. the decoded 334
  Timer timer = Timer::command;     // need_input
};

class ClientDialogue {
 public:
  enum class TlsWant { never, if_offered, required };
  struct Limits {
    std::size_t max_reply_line_octets = 4096;
    std::size_t max_reply_lines = 256;
    unsigned max_auth_rounds = 16;
  };

  explicit ClientDialogue(Limits limits);

  // ---- Operations ----
  // Each runs until next() says done or failed; starting one abandons an
  // operation still under way (the host gave up on it: its I/O failed).
  // Greeting, EHLO (HELO when refused), STARTTLS as `tls` asks, EHLO again.
  void open(std::string helo_name, TlsWant tls);
  // The same for LMTP (RFC 2033 §4.1): LHLO, and every later send() reads
  // one reply per accepted recipient after the final dot.
  void open_lmtp(std::string lhlo_name, TlsWant tls);
  bool lmtp() const { return lmtp_; }
  // AUTH `mechanism`, with an initial response for client-first mechanisms.
  void authenticate(std::string mechanism, std::optional<SaslAnswer> initial);
  void send(Outbound message);
  // MAIL FROM `message.reverse_path`, RCPT TO each recipient, then RSET:
  // the replies say whether the server would take them; nothing is sent.
  void verify(Outbound message);
  void reset();
  void quit();

  // ---- Input ----
  void receive(std::string_view bytes) { reader_.append(bytes); }
  std::span<char> prepare(std::size_t n) { return reader_.prepare(n); }
  void commit(std::size_t n) { reader_.commit(n); }
  // Octets read but not yet a whole line (the host shows them on a timeout).
  std::string_view buffered() const { return reader_.buffered(); }

  ClientEvent next();

  // ---- Answers ----
  void tls_started();  // RFC 3207 §4.2: forget the capabilities, EHLO again
  void answer(const SaslAnswer& answer);
  // Abandon the exchange ("*", RFC 4954 §4); it fails with `why` once the server has answered.
  void cancel(std::string why);

  // ---- Results ----
  const Reply& greeting() const { return greeting_; }
  const Capabilities& capabilities() const { return caps_; }
  const Delivery& delivery() const { return delivery_; }
  const Reply& last_reply() const { return last_; }  // e.g. the 235 of AUTH
  const ClientFailure& failure() const { return *failure_; }

 private:
  // What the next reply answers.
  enum class Awaiting { greeting, ehlo, helo, starttls, auth, auth_cancel, mail, rcpt, data, dot, lmtp_dot, discard_dot, rset, quit };

  void start();
  void transaction(Outbound message, bool verifying);  // send() or verify()
  void command(std::string line, std::string shown = {});
  void expect(Awaiting what) { awaiting_.push_back(what); }
  void on_reply(Awaiting answered, const Reply& reply);
  void after_hello();
  void next_rcpt();
  void after_rcpts();  // every RCPT answered (not pipelining): DATA, or RSET
  void next_lmtp_reply();  // the recipient the next LMTP reply after the dot is for
  void after_transaction();  // RSET, so the next transaction starts clean
  void abandon(std::string why);
  // True for the class wanted and for a refusal the caller records;
  // otherwise (421, or a reply out of place) the operation fails.
  bool positive_or_refusal(const Reply& reply, int cls, std::string_view what);
  bool any_recipient_accepted() const;
  void info(std::string text);
  void finish() { finished_ = ClientEvent::Kind::done; }
  void fail(ClientFailure::Kind kind, std::string message, std::optional<Reply> reply = std::nullopt);

  Limits limits_;
  LineReader reader_;
  ReplyParser parser_;
  std::size_t reply_lines_ = 0;

  std::deque<Awaiting> awaiting_;
  std::deque<ClientEvent> events_;  // queued for next()
  std::string out_;                 // command octets not yet handed out
  std::vector<std::string> shown_;
  std::string writing_;             // what the last write event points into
  std::optional<ClientEvent::Kind> finished_;
  bool waiting_for_host_ = false;   // after start_tls or challenge

  std::string helo_name_;
  bool lmtp_ = false;
  bool verifying_ = false;         // verify(): RSET where DATA would come
  std::size_t lmtp_next_ = 0;      // LMTP: the recipient the next reply after the dot is for
  TlsWant tls_ = TlsWant::never;
  bool tls_done_ = false;
  std::string mechanism_;
  unsigned auth_rounds_ = 0;
  std::string cancel_why_;
  Outbound message_;
  std::size_t rcpt_sent_ = 0;      // RCPT commands written
  std::size_t rcpt_answered_ = 0;  // RCPT replies read

  Reply greeting_;
  Capabilities caps_;
  Delivery delivery_;
  Reply last_;
  std::optional<ClientFailure> failure_;
};

}  // namespace postern::smtp
