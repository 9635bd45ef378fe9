#include "testbed/messages.hpp"

#include <algorithm>

namespace postern::testbed {

std::optional<MessageInfo> Messages::get(const std::string& id) const {
  if (!store::Spool::valid_id(id)) return std::nullopt;
  auto entry = spool_.load(id);
  if (!entry) return std::nullopt;
  auto bytes = spool_.message(id);
  if (!bytes) return std::nullopt;
  MessageInfo m;
  m.id = id;
  m.from = entry->envelope.reverse_path;
  m.to = entry->envelope.recipients;
  m.size = bytes->size();
  m.received = entry->envelope.received_at;
  m.parsed = parse_message(*bytes);
  return m;
}

std::vector<MessageInfo> Messages::list() const {
  std::vector<MessageInfo> out;
  for (const auto& id : spool_.list())
    if (auto m = get(id)) out.push_back(std::move(*m));
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.received > b.received; });
  return out;
}

std::optional<std::string> Messages::raw(const std::string& id) const {
  if (!store::Spool::valid_id(id)) return std::nullopt;
  return spool_.message(id);
}

void Messages::clear() {
  for (const auto& id : spool_.list()) spool_.remove(id);
}

}  // namespace postern::testbed
