#include "testbed/pop3_maildrop.hpp"

#include <algorithm>
#include <unordered_set>

#include "util/strings.hpp"

namespace postern::testbed {

void Pop3Removals::add(const std::string& address, const std::vector<std::string>& ids, const Messages& messages) {
  std::lock_guard lock(mutex_);
  if (removed_.size() + ids.size() > max_entries) {
    std::unordered_set<std::string> kept;
    for (const auto& m : messages.list()) kept.insert(m.id);
    std::erase_if(removed_, [&](const auto& entry) { return !kept.contains(entry.second); });
  }
  for (const auto& id : ids) removed_.emplace(address, id);
}

bool Pop3Removals::contains(const std::string& address, const std::string& id) const {
  std::lock_guard lock(mutex_);
  return removed_.contains({address, id});
}

InboxMaildrop::InboxMaildrop(const Messages& messages, Pop3Removals& removals, std::string address)
    : messages_(messages), removals_(removals), address_(util::to_lower(address)) {}

std::vector<pop3::MaildropEntry> InboxMaildrop::entries() {
  std::vector<pop3::MaildropEntry> out;
  auto list = messages_.list();  // newest first
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    const bool mine = std::any_of(it->to.begin(), it->to.end(), [&](const std::string& to) {
      return util::iequals(to, address_);
    });
    if (mine && !removals_.contains(address_, it->id)) out.push_back({it->id, it->size});
  }
  return out;
}

std::optional<std::string> InboxMaildrop::content(const std::string& uid) { return messages_.raw(uid); }

bool InboxMaildrop::remove(const std::vector<std::string>& uids) {
  removals_.add(address_, uids, messages_);
  return true;
}

}  // namespace postern::testbed
