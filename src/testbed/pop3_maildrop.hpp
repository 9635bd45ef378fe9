// The inbox a POP3 login reads (SPEC §10 "a login as ADDR sees ADDR's
// inbox"), as a pop3::Maildrop over the kept messages (messages.hpp): the
// messages in ADDR's inbox (its envelope recipients and the authenticated
// sender, any case), oldest first; UIDL = the message id. DELE at QUIT
// takes the message out of ADDR's inbox only: it stays in the others, and
// in none it is deleted (Messages::remove_from_inbox). Reading a message
// does not mark it read (as in Mailpit).
#pragma once

#include <string>
#include <vector>

#include "pop3/maildrop.hpp"
#include "testbed/messages.hpp"

namespace postern::testbed {

class InboxMaildrop final : public pop3::Maildrop {
 public:
  InboxMaildrop(Messages& messages, std::string address);
  std::vector<pop3::MaildropEntry> entries() override;
  // nullopt once the message left this inbox (another session, the API) or was dropped.
  std::optional<std::string> content(const std::string& uid) override;
  bool remove(const std::vector<std::string>& uids) override;

 private:
  Messages& messages_;
  std::string address_;  // lower case
};

}  // namespace postern::testbed
