// The inbox a POP3 login reads (SPEC §10 "a login as ADDR sees ADDR's
// inbox"), as a pop3::Maildrop over the kept messages (messages.hpp): the
// messages in ADDR's inbox (its envelope recipients and the authenticated
// sender, any case), oldest first; UIDL = the message id. DELE at QUIT
// takes the message out of ADDR's inbox only: it stays in the others, and
// in none it is deleted (Messages::remove_from_inbox). Reading a message
// does not mark it read (as in Mailpit).
//
// LIST gives the size RETR sends (RFC 1939 §5: "the exact size"), every
// line ending as CRLF: the same as the spool's size for mail that came in
// over SMTP, not for a message composed by POST /api/v1/send with bare
// LFs. WireSizes reads each message once to know it.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "pop3/maildrop.hpp"
#include "testbed/messages.hpp"

namespace postern::testbed {

// The octets RETR sends per message id. Thread-safe; bounded (forgets
// everything past max_entries, then learns again).
class WireSizes {
 public:
  static constexpr std::size_t max_entries = 100000;
  std::uint64_t of(const Messages& messages, const MessageSummary& message);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> octets_;
};

class InboxMaildrop final : public pop3::Maildrop {
 public:
  InboxMaildrop(Messages& messages, WireSizes& sizes, std::string address);
  std::vector<pop3::MaildropEntry> entries() override;
  // nullopt once the message left this inbox (another session, the API) or was dropped.
  std::optional<std::string> content(const std::string& uid) override;
  std::optional<std::size_t> remove(const std::vector<std::string>& uids) override;

 private:
  Messages& messages_;
  WireSizes& sizes_;
  std::string address_;  // lower case
};

}  // namespace postern::testbed
