// Dovecot's auth-master protocol, the USER lookup only, as Postern asks
// the auth-userdb socket whether a recipient exists (SPEC §12, [auth]
// dovecot_userdb), without I/O: the request we send and a reader for the
// replies. Same line and tab-escaping rules as the auth-client protocol
// (auth_protocol.hpp).
//
//   C: VERSION 1 0 / USER <id> <user> service=smtp
//   S: VERSION 1 x / SPID <pid>
//   S: USER <id> <user> key=value ... | NOTFOUND <id> | FAIL <id> [reason=...]
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "dovecot/auth_protocol.hpp"

namespace postern::dovecot {

// "VERSION\t1\t0\nUSER\t<id>\t<user>\tservice=<service>\n" (tab-escaped).
std::string userdb_request(std::uint32_t id, std::string_view user, std::string_view service = "smtp");

struct UserFound {
  std::uint32_t id = 0;
  std::string user;  // as Dovecot canonicalised it
};
struct UserNotFound {
  std::uint32_t id = 0;
};
struct UserLookupFailed {  // Dovecot's temporary trouble (its userdb is down, ...)
  std::uint32_t id = 0;
  std::string reason;
};
using UserdbEvent = std::variant<UserFound, UserNotFound, UserLookupFailed, ProtocolError>;

// Bytes in, replies out. A VERSION with another major number, an over-long
// line (kMaxLineOctets), a reply before VERSION or one without a numeric
// id is a ProtocolError, after which nothing follows. SPID and unknown
// lines are skipped.
class UserdbReader {
 public:
  void feed(std::string_view bytes);
  std::optional<UserdbEvent> next();
  bool failed() const { return failed_; }

 private:
  std::optional<UserdbEvent> line(std::string_view text);
  std::optional<UserdbEvent> fail(std::string what);

  std::string buffer_;
  std::size_t scanned_ = 0;
  bool have_version_ = false;
  bool failed_ = false;
};

}  // namespace postern::dovecot
