#include "testbed/messages.hpp"

#include <algorithm>
#include <set>

#include "testbed/scenarios.hpp"
#include "util/strings.hpp"

namespace postern::testbed {
namespace {

constexpr std::size_t snippet_chars = 200;
constexpr std::size_t max_search_text = 32 << 10;
// What one index entry holds at most of a message's own fields, so 500
// messages of 25 MB with huge header fields still make a small index.
constexpr std::size_t max_field_addresses = 200;
constexpr std::size_t max_indexed_field = 4096;  // Subject:, Message-ID:, a name, an address

bool older(const MessageSummary& a, const MessageSummary& b) {
  return a.received != b.received ? a.received < b.received : a.id < b.id;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

// Runs of white space as one space, trimmed.
std::string collapse_spaces(std::string_view s, std::size_t max_octets) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (out.size() >= max_octets) break;
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// The text of an HTML part as a reader sees it, roughly: tags and
// <style>/<script> content gone, the common entities decoded.
std::string html_text(std::string_view html) {
  std::string out;
  for (std::size_t i = 0; i < html.size();) {
    if (html[i] == '<') {
      for (std::string_view skip : {"style", "script"}) {
        if (util::istarts_with(html.substr(i + 1), skip)) {
          // To its closing tag, any case; without one, to the end (each octet is looked at once).
          auto end = html.find("</", i);
          while (end != std::string_view::npos && !util::istarts_with(html.substr(end + 2), skip)) end = html.find("</", end + 2);
          i = end == std::string_view::npos ? html.size() : end + 2 + skip.size();
          break;
        }
      }
      const auto close = html.find('>', i);
      i = close == std::string_view::npos ? html.size() : close + 1;
      out += ' ';
      continue;
    }
    if (html[i] == '&') {
      static const std::pair<std::string_view, char> entities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&nbsp;", ' '}};
      bool done = false;
      for (auto [name, c] : entities)
        if (util::istarts_with(html.substr(i), name)) {
          out += c;
          i += name.size();
          done = true;
          break;
        }
      if (done) continue;
    }
    out += html[i++];
  }
  return out;
}

// Cut at `max` octets without splitting a UTF-8 sequence.
std::string utf8_prefix(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

std::string snippet_of(const ParsedMessage& p) {
  // As Mailpit: from the HTML part when there is one.
  const std::string text = collapse_spaces(!p.html.empty() ? html_text(p.html) : p.text, snippet_chars * 4 + 8);
  if (text.size() <= snippet_chars) return text;
  return utf8_prefix(text, snippet_chars) + "...";
}

// A scenario address takes "+N" (greylist+60@, locked+2@, ...): no tag.
bool scenario_address(std::string_view address) {
  const auto name = local_scenario(address).name;
  return name == "greylist" || name == "locked" || name == "tempfail-data" || name == "slow";
}

// "user+a+b@example.com" → {"a", "b"}, as Mailpit reads plus addresses.
void plus_tags(std::string_view address, std::vector<std::string>& out) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || scenario_address(address)) return;
  const auto local = address.substr(0, at);
  const auto plus = local.find('+');
  if (plus == std::string_view::npos || plus == 0) return;
  for (auto& t : util::split(local.substr(plus + 1), '+')) out.push_back(t);
}

void add_unique_lower(std::vector<std::string>& set, std::string_view address) {
  if (address.empty()) return;
  auto lower = util::to_lower(address);
  auto at = std::lower_bound(set.begin(), set.end(), lower);
  if (at == set.end() || *at != lower) set.insert(at, std::move(lower));
}

bool in(const std::vector<std::string>& sorted, const std::string& lower) {
  return std::binary_search(sorted.begin(), sorted.end(), lower);
}

}  // namespace

std::string clean_search_text(std::string_view s, std::size_t max_octets) {
  std::string spaced(s.substr(0, std::min(s.size(), max_octets)));
  for (char& c : spaced)
    if (c == '<' || c == '>' || c == '"' || c == ',' || c == ';' || c == '(' || c == ')') c = ' ';
  return util::to_lower(collapse_spaces(spaced, spaced.size()));
}

std::string clean_tag(std::string_view tag) {
  std::string replaced;
  for (char c : tag) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.' || c == '@' || c == ' ';
    replaced += ok ? c : ' ';
  }
  std::string out = collapse_spaces(replaced, replaced.size());
  if (out.size() > 100) out.resize(100);
  return out;
}

bool tag_order(const std::string& a, const std::string& b) {
  const auto la = util::to_lower(a), lb = util::to_lower(b);
  return la != lb ? la < lb : a < b;
}

std::vector<std::string> sorted_unique_tags(const std::vector<std::string>& tags) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& t : tags) {
    if (out.size() >= max_message_tags) break;
    auto clean = clean_tag(t);
    if (clean.empty() || !seen.insert(util::to_lower(clean)).second) continue;
    out.push_back(std::move(clean));
  }
  std::sort(out.begin(), out.end(), tag_order);
  return out;
}

std::string subject_of(std::string_view message) {
  // GMime reads the header section only: up to the first empty line.
  std::size_t end = message.size();
  for (std::string_view blank : {"\r\n\r\n", "\n\n"})
    if (auto at = message.find(blank); at != std::string_view::npos) end = std::min(end, at + blank.size());
  return parse_message(message.substr(0, end)).subject;
}

namespace {

std::vector<Mailbox> bounded(const std::vector<Mailbox>& list) {
  std::vector<Mailbox> out;
  for (const auto& m : list) {
    if (out.size() >= max_field_addresses) break;
    out.push_back({utf8_prefix(m.name, max_indexed_field), utf8_prefix(m.address, max_indexed_field)});
  }
  return out;
}

}  // namespace

MessageSummary summarize_message(std::string_view bytes, const store::Envelope& envelope) {
  const ParsedMessage p = parse_message(bytes);
  MessageSummary m;
  m.from = envelope.reverse_path;
  m.to = envelope.recipients;
  m.user = envelope.auth_identity;
  m.size = bytes.size();
  m.received = envelope.received_at;
  m.subject = utf8_prefix(p.subject, max_indexed_field);
  if (!p.from.empty()) m.header_from = bounded({p.from.front()}).front();
  m.header_to = bounded(p.to);
  m.cc = bounded(p.cc);
  m.bcc = bounded(p.bcc);
  m.reply_to = bounded(p.reply_to);
  // As Mailpit does: an envelope recipient the header fields do not name is a Bcc.
  std::set<std::string> named;
  for (const auto* list : {&p.to, &p.cc, &p.bcc})
    for (const auto& a : *list) named.insert(util::to_lower(a.address));
  for (const auto& r : envelope.recipients)
    if (named.insert(util::to_lower(r)).second && m.bcc.size() < max_field_addresses) m.bcc.push_back({"", r});
  m.message_id = utf8_prefix(p.message_id, max_indexed_field);
  for (const auto& a : p.attachments) ++(a.inline_part ? m.inlines : m.attachments);
  m.snippet = snippet_of(p);

  std::string search;
  const auto add = [&](std::string_view s) {
    if (search.size() < max_search_text) search.append(s).append(" ");
  };
  const auto add_mailbox = [&](const Mailbox& a) {
    add(a.name);
    add(a.address);
  };
  add_mailbox(m.header_from);
  add(m.subject);
  for (const auto* list : {&m.header_to, &m.cc, &m.bcc, &m.reply_to})
    for (const auto& a : *list) add_mailbox(a);
  add(envelope.reverse_path);
  add(p.html.empty() ? std::string_view(p.text) : std::string_view(html_text(p.html)));
  for (const auto& a : p.attachments) add(a.filename);
  m.search_text = std::make_shared<const std::string>(clean_search_text(search, max_search_text));

  for (const auto& r : envelope.recipients) add_unique_lower(m.inboxes, r);
  add_unique_lower(m.inboxes, envelope.auth_identity);

  std::vector<std::string> tags;
  for (const auto& [name, value] : p.headers)
    if (util::iequals(name, "X-Tags"))
      for (auto& t : util::split(value, ',')) tags.push_back(std::move(t));
  for (const auto* list : {&m.header_to, &m.cc, &m.bcc})
    for (const auto& a : *list) plus_tags(a.address, tags);
  plus_tags(m.header_from.address, tags);
  m.tags = sorted_unique_tags(tags);
  return m;
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
  MessageSummary m = summarize_message(*bytes, entry->envelope);
  m.id = id;
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
    ++deleted_;
  }
  return out;
}

MessageSummary* Messages::find(const std::string& id) {
  auto it = std::find_if(index_.begin(), index_.end(), [&](const auto& x) { return x.id == id; });
  return it == index_.end() ? nullptr : &*it;
}

const MessageSummary* Messages::find(const std::string& id) const {
  auto it = std::find_if(index_.begin(), index_.end(), [&](const auto& x) { return x.id == id; });
  return it == index_.end() ? nullptr : &*it;
}

std::vector<std::string> Messages::added(const std::string& id) {
  auto m = summarize(id);
  if (!m) return {};
  std::vector<std::string> dropped;
  {
    std::lock_guard lock(mutex_);
    if (find(id)) return {};
    if (!spool_.load(id)) return {};  // a clear() removed it meanwhile
    ++accepted_;
    accepted_bytes_ += m->size;
    insert(std::move(*m));
    dropped = over_cap();
  }
  for (const auto& old : dropped) spool_.remove(old);
  return dropped;
}

std::string Messages::store(const store::Envelope& envelope, std::string_view message) {
  const auto id = spool_.put(envelope, message);
  added(id);
  return id;
}

std::vector<MessageSummary> Messages::list(const std::string& inbox) const {
  const auto wanted = util::to_lower(inbox);
  std::lock_guard lock(mutex_);
  if (wanted.empty()) return {index_.rbegin(), index_.rend()};
  std::vector<MessageSummary> out;
  for (auto it = index_.rbegin(); it != index_.rend(); ++it)
    if (in(it->inboxes, wanted)) out.push_back(*it);
  return out;
}

// `keep` runs on a snapshot, outside the lock: a slow search holds up no
// message arriving and no other request (summaries share their search text).
Messages::Page Messages::find(const std::function<bool(const MessageSummary&)>& keep, std::size_t start,
                              std::size_t limit) const {
  Page page;
  for (auto& m : list()) {
    if (!keep(m)) continue;
    if (!m.read) ++page.matched_unread;
    if (page.matched++ >= start && page.messages.size() < limit) page.messages.push_back(std::move(m));
  }
  return page;
}

std::vector<std::string> Messages::ids(const std::function<bool(const MessageSummary&)>& keep) const {
  std::vector<std::string> out;
  for (const auto& m : list())
    if (keep(m)) out.push_back(m.id);
  return out;
}

std::size_t Messages::size() const {
  std::lock_guard lock(mutex_);
  return index_.size();
}

std::optional<MessageSummary> Messages::summary(const std::string& id) const {
  std::lock_guard lock(mutex_);
  const auto* m = find(id);
  if (!m) return std::nullopt;
  return *m;
}

std::optional<std::string> Messages::latest() const {
  std::lock_guard lock(mutex_);
  if (index_.empty()) return std::nullopt;
  return index_.back().id;
}

std::optional<MessageInfo> Messages::get(const std::string& id) const {
  MessageInfo m;
  {
    std::lock_guard lock(mutex_);
    const auto* found = find(id);
    if (!found) return std::nullopt;
    static_cast<MessageSummary&>(m) = *found;
  }
  auto bytes = spool_.message(id);
  if (!bytes) return std::nullopt;
  m.parsed = parse_message(*bytes);
  return m;
}

std::optional<std::string> Messages::raw(const std::string& id) const {
  if (!store::Spool::valid_id(id)) return std::nullopt;
  {
    std::lock_guard lock(mutex_);
    if (!find(id)) return std::nullopt;
  }
  return spool_.message(id);
}

bool Messages::remove_from_inbox(const std::string& id, const std::string& inbox) {
  const auto wanted = util::to_lower(inbox);
  {
    std::lock_guard lock(mutex_);
    auto* m = find(id);
    if (!m) return false;
    auto at = std::lower_bound(m->inboxes.begin(), m->inboxes.end(), wanted);
    if (at == m->inboxes.end() || *at != wanted) return false;
    m->inboxes.erase(at);
    if (!m->inboxes.empty()) return true;
  }
  remove(id);
  return true;
}

bool Messages::remove(const std::string& id) {
  // Under the lock: added() indexes nothing this removes.
  std::lock_guard lock(mutex_);
  auto it = std::find_if(index_.begin(), index_.end(), [&](const auto& x) { return x.id == id; });
  if (it == index_.end()) return false;
  index_.erase(it);
  ++deleted_;
  spool_.remove(id);
  return true;
}

std::size_t Messages::clear() {
  // Under the lock: added() indexes nothing this removes.
  std::lock_guard lock(mutex_);
  const std::size_t gone = index_.size();
  index_.clear();
  deleted_ += gone;
  for (const auto& id : spool_.list()) spool_.remove(id);
  return gone;
}

std::size_t Messages::set_read(const std::vector<std::string>& ids, bool read) {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& id : ids)
    if (auto* m = find(id)) {
      m->read = read;
      ++n;
    }
  return n;
}

std::size_t Messages::set_all_read(bool read) {
  std::lock_guard lock(mutex_);
  for (auto& m : index_) m.read = read;
  return index_.size();
}

std::size_t Messages::unread() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(index_.begin(), index_.end(), [](const auto& m) { return !m.read; }));
}

std::map<std::string, Messages::InboxCount> Messages::inboxes() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, InboxCount> out;
  for (const auto& m : index_)
    for (const auto& inbox : m.inboxes) {
      auto& c = out[inbox];
      ++c.messages;
      if (!m.read) ++c.unread;
    }
  return out;
}

std::size_t Messages::set_tags(const std::vector<std::string>& ids, const std::vector<std::string>& tags) {
  const auto clean = sorted_unique_tags(tags);
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& id : ids)
    if (auto* m = find(id)) {
      m->tags = clean;
      ++n;
    }
  return n;
}

std::vector<std::pair<std::string, std::size_t>> Messages::tag_counts() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::size_t> counts;
  for (const auto& m : index_)
    for (const auto& t : m.tags) ++counts[t];
  std::vector<std::pair<std::string, std::size_t>> out(counts.begin(), counts.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return tag_order(a.first, b.first); });
  return out;
}

Messages::TagChange Messages::rename_tag(const std::string& from, const std::string& to) {
  std::lock_guard lock(mutex_);
  bool found = false, taken = false;
  for (const auto& m : index_)
    for (const auto& t : m.tags) {
      found = found || util::iequals(t, from);
      taken = taken || (!to.empty() && util::iequals(t, to) && !util::iequals(t, from));
    }
  if (!found) return TagChange::not_found;
  if (taken) return TagChange::exists;
  for (auto& m : index_) {
    auto tags = m.tags;
    const auto old = std::remove_if(tags.begin(), tags.end(), [&](const auto& t) { return util::iequals(t, from); });
    if (old == tags.end()) continue;
    tags.erase(old, tags.end());
    if (!to.empty()) tags.push_back(to);
    m.tags = sorted_unique_tags(tags);
  }
  return TagChange::done;
}

std::uint64_t Messages::accepted() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

std::uint64_t Messages::accepted_bytes() const {
  std::lock_guard lock(mutex_);
  return accepted_bytes_;
}

std::uint64_t Messages::deleted() const {
  std::lock_guard lock(mutex_);
  return deleted_;
}

}  // namespace postern::testbed
