// One SMTP client connection (RFC 5321 §3, §4): connect with timeouts over
// IPv4 or IPv6, TLS (implicit, or STARTTLS per RFC 3207) with certificate
// and host name checks, AUTH (RFC 4954) driven by a SASL mechanism object,
// then any number of mail transactions and QUIT. Used by `postern send` and
// by outbound delivery. The protocol is smtp::ClientDialogue
// (smtp/client_dialogue.hpp); this is the I/O around it: the connection
// (net::Stream), one deadline per wait (net::Deadline), the TLS handshake,
// the mechanism's steps and the transcript.
//
// Errors are values: every call returns an Error when the connection can
// no longer be used as expected; a refused MAIL, RCPT or DATA is not an
// Error but a Reply in the Delivery, and the session stays usable.
// A Session lives on one executor and is not thread-safe.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/deadline.hpp"
#include "net/stream.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/capabilities.hpp"
#include "smtp/client_dialogue.hpp"
#include "smtp/reply.hpp"

namespace postern::client {

using smtp::Capabilities;
using smtp::Delivery;

enum class TlsMode {
  none,      // never TLS
  starttls,  // STARTTLS required: fail when the server does not offer it
  implicit,  // TLS from the first byte (submissions, RFC 8314)
  automatic, // STARTTLS when offered, else clear text
};

struct TranscriptLine {
  enum class Direction { server, client, info };
  Direction direction;
  std::string text;  // the line as sent or received, secrets replaced by "<redacted>"
  std::string note;  // e.g. the decoded 334 challenge; may be empty
};

struct Options {
  std::string host;                 // name or address literal
  std::string port = "25";
  std::string unix_path;            // when set: connect to this unix socket instead of host and port
  bool lmtp = false;                // LMTP (RFC 2033): LHLO, one reply per recipient after DATA
  TlsMode tls = TlsMode::automatic;
  bool verify_certificate = true;   // chain and host name (RFC 6125) checks
  std::string ca_file;              // trust these CAs instead of the system store
  std::string server_name;          // name to verify and send in SNI; default: host
  std::string helo_name;            // default: this machine's host name
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{300};  // RFC 5321 §4.5.3.2: 5 minutes per reply
  std::chrono::seconds data_timeout{600};     // RFC 5321 §4.5.3.2.6: 10 minutes after the final dot
  std::size_t max_reply_line_octets = 4096;
  std::size_t max_reply_lines = 256;
  // A TLS context shared by many sessions (outbound delivery); when null the
  // session builds its own from verify_certificate and ca_file.
  std::shared_ptr<asio::ssl::context> tls_context;
  std::function<void(const TranscriptLine&)> transcript;
};

struct Error {
  enum class Kind {
    resolve,       // host name unknown (permanent) or DNS trouble (temporary)
    refused,       // connection refused or unreachable
    timeout,       // connect or reply deadline passed
    dropped,       // the server closed the connection or reset it
    protocol,      // malformed or unexpected reply, bad 334 challenge
    tls,           // handshake failed (other than the certificate)
    certificate,   // the certificate did not verify
    no_tls,        // TLS required but not offered or refused
    reply,         // the server refused with a reply (greeting, EHLO, 421 ...)
    auth,          // authentication failed (including a bad SCRAM server signature)
    unsupported,   // the message needs an extension the server lacks (e.g. SMTPUTF8)
    cleartext,     // refusing to send credentials without TLS
  };
  Kind kind;
  std::string message;               // one line for people
  std::optional<smtp::Reply> reply;  // the reply that caused it, when there is one
  bool temporary_dns = false;

  // Whether trying again later may succeed (queue: defer instead of bounce).
  bool temporary() const;
};

// One mechanism's client side, supplied by the caller (the SASL layer's
// stepper behind a small adapter). Challenges and responses are raw octets;
// the dialogue does the base64 (RFC 4954 §4).
class SaslMechanism {
 public:
  struct Step {
    enum class Status { more, done, failed } status = Status::more;
    std::string output;     // response to send (raw octets)
    bool secret = false;    // output must not appear in transcripts
    std::string shown;      // what the transcript shows instead (e.g. "c=biws,r=...,p=<redacted>")
    std::string error;      // why, when failed (e.g. "server signature does not match")
  };
  virtual ~SaslMechanism() = default;
  virtual std::string name() const = 0;
  // Client-first mechanisms (PLAIN, SCRAM) send an initial response on the AUTH line.
  virtual bool client_first() const = 0;
  // Initial response (challenge empty) or the answer to one challenge.
  virtual Step step(std::string_view challenge) = 0;
  // True once the mechanism has verified the server (SCRAM) or needs no such proof.
  virtual bool complete() const = 0;
};

struct Transaction {
  std::string reverse_path;             // MAIL FROM address, may be empty for <>
  std::vector<std::string> recipients;  // RCPT TO addresses
  std::string message;                  // RFC 5322 message; LF or CRLF line ends
};

class Session {
 public:
  Session(asio::any_io_executor executor, Options options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Connects, reads the greeting, says EHLO and sets up TLS as options ask.
  asio::awaitable<std::optional<Error>> open();
  // Runs AUTH with `mechanism` (which must be among capabilities().auth unless
  // the caller insists). Refuses (Error::cleartext) without TLS unless
  // allow_cleartext.
  asio::awaitable<std::optional<Error>> authenticate(SaslMechanism& mechanism, bool allow_cleartext = false);
  // One mail transaction. Replies land in `out`; an Error means the
  // connection broke or the server closed it (421), and recipients without
  // an outcome were not delivered.
  asio::awaitable<std::optional<Error>> send(const Transaction& transaction, Delivery& out);
  // MAIL, RCPT for each recipient, RSET: would the server take them?
  // (transaction.message is not used). The RCPT replies land in `out`.
  asio::awaitable<std::optional<Error>> verify(const Transaction& transaction, Delivery& out);
  // RSET (between transactions after a failure). Error on 421 or a broken connection.
  asio::awaitable<std::optional<Error>> reset();
  // QUIT and close; never fails.
  asio::awaitable<void> quit();
  void close();

  const Capabilities& capabilities() const { return dialogue_.capabilities(); }
  const smtp::Reply& greeting() const { return dialogue_.greeting(); }
  bool tls_active() const { return stream_.tls(); }
  std::string tls_description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384", or empty
  // RFC 9266 tls-exporter (TLS 1.3) or RFC 5929 tls-unique (TLS 1.2), for SCRAM-*-PLUS.
  const sasl::ChannelBindings& channel_bindings() const { return bindings_; }
  std::string peer() const;  // "127.0.0.1:25" once connected
  const asio::any_io_executor& executor() const { return executor_; }

 private:
  asio::awaitable<std::optional<Error>> connect();
  asio::awaitable<std::optional<Error>> connect_unix();
  asio::awaitable<std::optional<Error>> handshake();
  // Runs the dialogue's operation to its end; `mechanism` answers challenges.
  asio::awaitable<std::optional<Error>> drive(SaslMechanism* mechanism = nullptr);
  asio::awaitable<std::optional<Error>> write(std::string_view wire);
  asio::awaitable<std::optional<Error>> read(std::chrono::seconds timeout);
  Error io_error(const asio::error_code& ec, std::string_view doing) const;
  void emit(TranscriptLine::Direction d, std::string text, std::string note = {});
  void init_tls_context();
  void load_trust();

  asio::any_io_executor executor_;
  Options options_;
  std::shared_ptr<asio::ssl::context> tls_context_;
  asio::ip::tcp::resolver resolver_;
  net::Stream stream_;
  net::Deadline deadline_;
  smtp::ClientDialogue dialogue_;
  bool own_context_ = false;
  bool trust_loaded_ = false;
  sasl::ChannelBindings bindings_;
  asio::ip::tcp::endpoint peer_;
};

}  // namespace postern::client
