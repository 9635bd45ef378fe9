#include "testbed/pop3_maildrop.hpp"

#include <algorithm>

#include "pop3/reply.hpp"
#include "util/strings.hpp"

namespace postern::testbed {

std::uint64_t WireSizes::of(const Messages& messages, const MessageSummary& message) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = octets_.find(message.id); it != octets_.end()) return it->second;
  }
  const auto raw = messages.raw(message.id);
  if (!raw) return message.size;  // gone meanwhile: RETR will say so
  const auto octets = pop3::octets(*raw);
  std::lock_guard lock(mutex_);
  if (octets_.size() >= max_entries) octets_.clear();
  octets_.emplace(message.id, octets);
  return octets;
}

InboxMaildrop::InboxMaildrop(Messages& messages, WireSizes& sizes, std::string address)
    : messages_(messages), sizes_(sizes), address_(util::to_lower(address)) {}

std::vector<pop3::MaildropEntry> InboxMaildrop::entries() {
  std::vector<pop3::MaildropEntry> out;
  const auto list = messages_.list(address_);  // newest first
  for (auto it = list.rbegin(); it != list.rend(); ++it) out.push_back({it->id, sizes_.of(messages_, *it)});
  return out;
}

std::optional<std::string> InboxMaildrop::content(const std::string& uid) {
  const auto summary = messages_.summary(uid);
  if (!summary || !std::binary_search(summary->inboxes.begin(), summary->inboxes.end(), address_)) return std::nullopt;
  return messages_.raw(uid);
}

std::optional<std::size_t> InboxMaildrop::remove(const std::vector<std::string>& uids) {
  // A message already out of this inbox (another session, the API) is as good as removed, not counted.
  std::size_t removed = 0;
  for (const auto& uid : uids)
    if (messages_.remove_from_inbox(uid, address_)) ++removed;
  return removed;
}

}  // namespace postern::testbed
