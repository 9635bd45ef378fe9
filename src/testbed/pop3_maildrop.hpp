// The inbox a POP3 login reads (SPEC §10 "a login as ADDR sees ADDR's
// inbox"), as a pop3::Maildrop over the kept messages: every message with
// ADDR among its envelope recipients (case-insensitive), oldest first,
// UIDL = the message id. DELE at QUIT hides the message from ADDR's inbox
// only (Pop3Removals); the message stays kept for other recipients, the
// page and the API.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pop3/maildrop.hpp"
#include "testbed/messages.hpp"

namespace postern::testbed {

// Which (address, message id) pairs POP3 removed. Thread-safe; bounded:
// past max_entries, pairs whose message is no longer kept are forgotten.
class Pop3Removals {
 public:
  static constexpr std::size_t max_entries = 100000;
  void add(const std::string& address, const std::vector<std::string>& ids, const Messages& messages);
  bool contains(const std::string& address, const std::string& id) const;

 private:
  mutable std::mutex mutex_;
  std::set<std::pair<std::string, std::string>> removed_;
};

class InboxMaildrop final : public pop3::Maildrop {
 public:
  InboxMaildrop(const Messages& messages, Pop3Removals& removals, std::string address);
  std::vector<pop3::MaildropEntry> entries() override;
  std::optional<std::string> content(const std::string& uid) override;
  bool remove(const std::vector<std::string>& uids) override;

 private:
  const Messages& messages_;
  Pop3Removals& removals_;
  std::string address_;  // lower case
};

}  // namespace postern::testbed
