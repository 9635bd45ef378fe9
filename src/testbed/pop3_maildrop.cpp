#include "testbed/pop3_maildrop.hpp"

#include <algorithm>

#include "util/strings.hpp"

namespace postern::testbed {

InboxMaildrop::InboxMaildrop(Messages& messages, std::string address)
    : messages_(messages), address_(util::to_lower(address)) {}

std::vector<pop3::MaildropEntry> InboxMaildrop::entries() {
  std::vector<pop3::MaildropEntry> out;
  const auto list = messages_.list(address_);  // newest first
  for (auto it = list.rbegin(); it != list.rend(); ++it) out.push_back({it->id, it->size});
  return out;
}

std::optional<std::string> InboxMaildrop::content(const std::string& uid) {
  const auto summary = messages_.summary(uid);
  if (!summary || !std::binary_search(summary->inboxes.begin(), summary->inboxes.end(), address_)) return std::nullopt;
  return messages_.raw(uid);
}

bool InboxMaildrop::remove(const std::vector<std::string>& uids) {
  // A message already out of this inbox (another session, the API) is as good as removed.
  for (const auto& uid : uids) messages_.remove_from_inbox(uid, address_);
  return true;
}

}  // namespace postern::testbed
