// What a POP3 session reads and changes (RFC 1939 §2: the "maildrop"):
// the messages of one login, each with a unique id (UIDL, RFC 1939 §7)
// and its size. The dialogue takes the list once, at login, and keeps it
// for the session (message numbers never change, RFC 1939 §5); it asks for
// a message's octets on RETR and TOP, and removes what DELE marked only at
// QUIT (the UPDATE state). The host supplies the implementation (the
// testbed's inboxes); calls come from the dialogue's thread. A call that
// throws std::exception is answered -ERR [SYS/TEMP]; the session goes on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace postern::pop3 {

struct MaildropEntry {
  std::string uid;           // 1 to 70 octets of 0x21..0x7E (RFC 1939 §7)
  std::uint64_t octets = 0;  // as RETR sends it before byte-stuffing (pop3::octets())
};

class Maildrop {
 public:
  virtual ~Maildrop() = default;
  // The messages, oldest first: message 1 is the first.
  virtual std::vector<MaildropEntry> entries() = 0;
  // The message's octets; nullopt when it is gone meanwhile.
  virtual std::optional<std::string> content(const std::string& uid) = 0;
  // Removes these messages from this maildrop: how many it removed (one
  // removed meanwhile by someone else does not count), nullopt if any could
  // not be removed.
  virtual std::optional<std::size_t> remove(const std::vector<std::string>& uids) = 0;
};

}  // namespace postern::pop3
