// Dovecot's auth-client protocol (Dovecot's "Authentication Protocol",
// v1.2 as Dovecot 2.3 speaks it), the client's half, without I/O: the
// lines we send, and a reader that turns what the auth service sends into
// events. Lines end with LF; fields are separated by TAB and use Dovecot's
// tab-escaping (\001 then 0, 1, t, r, n or l; \001 before anything else
// stands for that character).
//
//   C: VERSION 1 2 / CPID <pid>
//   S: VERSION 1 x / MECH <name> [flags] ... / SPID / CUID / COOKIE / DONE
//   C: AUTH <id> <mech> service=smtp [secured] lip= rip= ... [resp=<base64>]
//   S: CONT <id> <base64> | OK <id> [user=...] | FAIL <id> [temp|code=temp_fail] [user=...]
//   C: CONT <id> <base64>
//
// We announce minor version 2: Dovecot 2.4 then leaves out the mechanisms
// that need channel binding (minor 3 adds an out-of-band round trip for the
// binding data that this client does not speak), so no -PLUS is offered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace postern::dovecot {

// A line longer than this (LF included) is a protocol error. Dovecot
// expects its lines to fit in 16384 octets; base64 of our largest AUTH
// response (12288 octets of SMTP line) stays below it.
inline constexpr std::size_t kMaxLineOctets = 16384;
// More mechanisms than this in one handshake is a protocol error.
inline constexpr std::size_t kMaxMechanisms = 64;
// Handshake lines (VERSION, MECH, SPID, ...) before DONE.
inline constexpr std::size_t kMaxHandshakeLines = 256;
inline constexpr unsigned kProtocolMajor = 1;
inline constexpr unsigned kProtocolMinor = 2;

std::string tab_escape(std::string_view value);
std::string tab_unescape(std::string_view value);

struct MechanismInfo {
  std::string name;  // upper case, as Dovecot announces it
  bool plaintext = false;        // the password crosses the connection
  bool hidden = false;           // "private": never advertised
  bool channel_binding = false;  // needs protocol 1.3's binding round trip
  bool operator==(const MechanismInfo&) const = default;
};

// The client's handshake: "VERSION\t1\t2\nCPID\t<pid>\n".
std::string handshake_lines(std::uint32_t pid);

struct AuthRequest {
  std::uint32_t id = 1;
  std::string mechanism;
  std::string service = "smtp";
  bool secured = false;          // TLS (Dovecot also counts loopback as secured)
  std::string local_ip, remote_ip;
  std::uint16_t local_port = 0, remote_port = 0;
  std::string session;           // our session id, for Dovecot's log
  std::optional<std::string> initial_response;  // raw bytes; encoded as the last field
};
// "AUTH\t..." with LF. Values are tab-escaped; resp= comes last, as the
// protocol requires.
std::string auth_line(const AuthRequest& request);
// "CONT\t<id>\t<base64 of bytes>\n".
std::string cont_line(std::uint32_t id, std::string_view bytes);

// What the reader gives, in the order the lines came.
struct HandshakeDone {
  unsigned major = 0, minor = 0;
  std::vector<MechanismInfo> mechanisms;
};
struct Continue {
  std::uint32_t id = 0;
  std::string challenge;  // decoded
};
struct Success {
  std::uint32_t id = 0;
  std::string user;   // user= (may be empty)
  std::optional<std::string> final_data;  // resp=, decoded: data sent with success
  bool nologin = false;  // nologin or proxy: verified, but no access here (treated as a failure)
};
struct Failure {
  std::uint32_t id = 0;
  bool temporary = false;  // "temp" (old) or code=temp_fail
  std::string user;        // user=, when Dovecot knew it
  std::string code;        // code=..., for the log
};
// The stream is unusable: the reason, for the log. Nothing follows it.
struct ProtocolError {
  std::string what;
};
using Event = std::variant<HandshakeDone, Continue, Success, Failure, ProtocolError>;

// Bytes in, events out. First the handshake (until DONE), then replies to
// requests. Unknown lines and parameters are skipped, as the protocol says;
// a bad version, an over-long line, a malformed reply or too many
// mechanisms is a ProtocolError.
class AuthReader {
 public:
  void feed(std::string_view bytes);
  // The next complete event, if any.
  std::optional<Event> next();
  bool handshake_done() const { return done_; }
  bool failed() const { return failed_; }

 private:
  std::optional<Event> line(std::string_view text);
  std::optional<Event> fail(std::string what);

  std::string buffer_;
  std::size_t scanned_ = 0;
  bool done_ = false;
  bool failed_ = false;
  bool have_version_ = false;
  std::size_t handshake_lines_ = 0;
  HandshakeDone handshake_;
};

// "inet:HOST:PORT" ([v6] allowed) or a unix socket path.
struct SocketAddress {
  bool inet = false;
  std::string path;  // unix
  std::string host;  // inet
  std::uint16_t port = 0;
};
// nullopt with `error` set when it is neither.
std::optional<SocketAddress> parse_socket_address(std::string_view text, std::string* error = nullptr);

}  // namespace postern::dovecot
