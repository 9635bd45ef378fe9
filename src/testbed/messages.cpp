#include "testbed/messages.hpp"

#include <algorithm>

namespace postern::testbed {
namespace {

bool older(const MessageSummary& a, const MessageSummary& b) {
  return a.received != b.received ? a.received < b.received : a.id < b.id;
}

}  // namespace

std::string subject_of(std::string_view message) {
  // GMime reads the header section only: up to the first empty line.
  std::size_t end = message.size();
  for (std::string_view blank : {"\r\n\r\n", "\n\n"})
    if (auto at = message.find(blank); at != std::string_view::npos) end = std::min(end, at + blank.size());
  return parse_message(message.substr(0, end)).subject;
}

Messages::Messages(store::Spool& spool, std::size_t max_messages) : spool_(spool), max_messages_(max_messages) {
  for (const auto& id : spool_.list())
    if (auto m = summarize(id)) insert(std::move(*m));
  for (const auto& id : over_cap()) spool_.remove(id);
}

std::optional<MessageSummary> Messages::summarize(const std::string& id) const {
  if (!store::Spool::valid_id(id)) return std::nullopt;
  auto entry = spool_.load(id);
  if (!entry) return std::nullopt;
  auto bytes = spool_.message(id);
  if (!bytes) return std::nullopt;
  MessageSummary m;
  m.id = id;
  m.from = entry->envelope.reverse_path;
  m.to = entry->envelope.recipients;
  m.size = bytes->size();
  m.received = entry->envelope.received_at;
  m.subject = subject_of(*bytes);
  return m;
}

void Messages::insert(MessageSummary m) {
  auto at = std::upper_bound(index_.begin(), index_.end(), m, older);
  index_.insert(at, std::move(m));
}

std::vector<std::string> Messages::over_cap() {
  std::vector<std::string> out;
  while (max_messages_ > 0 && index_.size() > max_messages_) {
    out.push_back(std::move(index_.front().id));
    index_.pop_front();
  }
  return out;
}

std::vector<std::string> Messages::added(const std::string& id) {
  auto m = summarize(id);
  if (!m) return {};
  std::vector<std::string> dropped;
  {
    std::lock_guard lock(mutex_);
    if (std::any_of(index_.begin(), index_.end(), [&](const auto& x) { return x.id == id; })) return {};
    if (!spool_.load(id)) return {};  // a clear() removed it meanwhile
    insert(std::move(*m));
    dropped = over_cap();
  }
  for (const auto& old : dropped) spool_.remove(old);
  return dropped;
}

std::vector<MessageSummary> Messages::list() const {
  std::lock_guard lock(mutex_);
  return {index_.rbegin(), index_.rend()};
}

std::size_t Messages::size() const {
  std::lock_guard lock(mutex_);
  return index_.size();
}

std::optional<MessageInfo> Messages::get(const std::string& id) const {
  MessageInfo m;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(index_.begin(), index_.end(), [&](const auto& x) { return x.id == id; });
    if (it == index_.end()) return std::nullopt;
    static_cast<MessageSummary&>(m) = *it;
  }
  auto bytes = spool_.message(id);
  if (!bytes) return std::nullopt;
  m.parsed = parse_message(*bytes);
  return m;
}

std::optional<std::string> Messages::raw(const std::string& id) const {
  if (!store::Spool::valid_id(id)) return std::nullopt;
  return spool_.message(id);
}

std::size_t Messages::clear() {
  // Under the lock: added() indexes nothing this removes.
  std::lock_guard lock(mutex_);
  const std::size_t gone = index_.size();
  index_.clear();
  for (const auto& id : spool_.list()) spool_.remove(id);
  return gone;
}

}  // namespace postern::testbed
