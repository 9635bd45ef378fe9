// The messages the testbed kept (SPEC §10 /api/messages): it accepts and
// keeps every message in its spool and delivers none, so the spool is the
// store. MIME is read by mime/reader.hpp (GMime).
//
// The list comes from an index built once per message as it arrives
// (envelope, authenticated user, header addresses, Subject:, Message-ID:,
// a snippet and the text that free-text search looks in), so listing and
// searching read no message; one message is parsed in full only when it
// is asked for by id. At most `max_messages` are kept ([testbed]
// max_messages): the oldest go first, as in Mailpit.
//
// Inboxes: a message is in the inbox of each envelope recipient and, when
// the session authenticated, of that user (lower case). Removing it from
// its last inbox deletes it. Read flags, tags set over the API and inbox
// removals live in memory: a testbed restarted on the same --data-dir
// shows its messages unread, with the tags they carry themselves
// (X-Tags:, +tag addresses), in every inbox.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mime/reader.hpp"
#include "store/spool.hpp"

namespace postern::testbed {

using mime::Attachment;
using mime::Mailbox;
using mime::ParsedMessage;
using mime::parse_message;

struct MessageSummary {
  std::string id;
  std::string from;              // envelope: the reverse-path
  std::vector<std::string> to;   // envelope: the recipients
  std::string user;              // the authenticated user of the session, "" if none
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point received{};
  std::string subject;  // decoded

  // From the message itself (Mailpit's fields).
  Mailbox header_from;
  std::vector<Mailbox> header_to, cc, bcc, reply_to;  // bcc: the Bcc: field and envelope recipients in no field
  std::string message_id;                             // without <>
  std::size_t attachments = 0, inlines = 0;
  std::string snippet;      // the start of the text (of the HTML part if any), white space collapsed
  // Lower case: addresses, subject, text, file names (bounded); shared, so copies of a summary stay cheap.
  std::shared_ptr<const std::string> search_text;

  std::vector<std::string> inboxes;  // lower case, sorted, unique
  std::vector<std::string> tags;     // sorted, unique (case-insensitively)
  bool read = false;
};

struct MessageInfo : MessageSummary {
  ParsedMessage parsed;
};

// The index entry of a message (id left empty): from its envelope and bytes.
// Tags come from X-Tags: (comma-separated) and from the "+tag" of the
// To/Cc/Bcc/From addresses and envelope recipients, except the testbed's
// own scenario addresses (greylist+60@, locked+2@, tempfail-data+1@, slow+3@).
MessageSummary summarize_message(std::string_view bytes, const store::Envelope& envelope);

// How Mailpit normalises the text it searches and the words it looks
// for: < > " , ; ( ) and white space runs become one space, trimmed, lower case.
std::string clean_search_text(std::string_view s, std::size_t max_octets = std::string::npos);

// Mailpit's tag rules: characters other than letters, digits, "-", "_",
// ".", "@" and space become spaces, runs of spaces one, trimmed, at most
// 100 octets; "" when nothing is left.
std::string clean_tag(std::string_view tag);
// Cleaned, without empties, unique ignoring case (the first spelling
// wins), sorted; the first `max_message_tags` of them.
constexpr std::size_t max_message_tags = 100;
std::vector<std::string> sorted_unique_tags(const std::vector<std::string>& tags);

class Messages {
 public:
  // Indexes what `spool` holds already (dropping the oldest past the cap).
  // `max_messages` 0: no limit.
  Messages(store::Spool& spool, std::size_t max_messages);

  // A message was accepted (Intake::on_accepted): indexes it and drops the
  // oldest past max_messages. Returns the ids dropped.
  std::vector<std::string> added(const std::string& id);
  // Keeps a message that came another way than SMTP (POST /api/v1/send):
  // into the spool durably, then indexed. Returns its id. Throws
  // store::IoError or std::invalid_argument (no recipients).
  std::string store(const store::Envelope& envelope, std::string_view message);

  // Newest first, from the index. `inbox`: only the messages in that
  // inbox (the address, any case); "" every message.
  std::vector<MessageSummary> list(const std::string& inbox = "") const;
  std::size_t size() const;

  // The messages `keep` chooses, newest first: the `limit` from `start`
  // on, and how many matched in all and of those unread.
  struct Page {
    std::vector<MessageSummary> messages;
    std::size_t matched = 0, matched_unread = 0;
  };
  Page find(const std::function<bool(const MessageSummary&)>& keep, std::size_t start, std::size_t limit) const;
  // The ids `keep` chooses, newest first.
  std::vector<std::string> ids(const std::function<bool(const MessageSummary&)>& keep) const;
  std::optional<MessageSummary> summary(const std::string& id) const;
  std::optional<MessageInfo> get(const std::string& id) const;  // parsed in full
  std::optional<std::string> raw(const std::string& id) const;
  // The newest message's id, if any.
  std::optional<std::string> latest() const;

  // The message leaves `inbox`; in no inbox any more, it is deleted.
  // False when it is not in that inbox.
  bool remove_from_inbox(const std::string& id, const std::string& inbox);
  // Deleted outright, whatever inboxes it is in. False when unknown.
  bool remove(const std::string& id);
  std::size_t clear();  // returns how many were deleted

  // Read flags: returns how many of `ids` exist (each is set).
  std::size_t set_read(const std::vector<std::string>& ids, bool read);
  std::size_t set_all_read(bool read);
  std::size_t unread() const;

  // Every inbox with its number of messages and of those unread, by address.
  struct InboxCount {
    std::size_t messages = 0, unread = 0;
  };
  std::map<std::string, InboxCount> inboxes() const;

  // Tags: replaces the tags of each of `ids` (cleaned). Returns how many exist.
  std::size_t set_tags(const std::vector<std::string>& ids, const std::vector<std::string>& tags);
  // Every tag in use, sorted without regard to case (as Mailpit's NOCASE
  // collation); with the number of messages carrying it.
  std::vector<std::pair<std::string, std::size_t>> tag_counts() const;
  // Renames `from` (any case) to `to` on every message; deletes it when `to`
  // is "". Mailpit's refusals: no message carries `from`, or `to` is
  // another tag already in use.
  enum class TagChange { done, not_found, exists };
  TagChange rename_tag(const std::string& from, const std::string& to);

  // Counters since start (Mailpit's /api/v1/info RuntimeStats).
  std::uint64_t accepted() const;
  std::uint64_t accepted_bytes() const;
  std::uint64_t deleted() const;

 private:
  std::optional<MessageSummary> summarize(const std::string& id) const;
  void insert(MessageSummary m);  // under mutex_
  std::vector<std::string> over_cap();  // under mutex_: unindexes and returns the oldest past the cap
  MessageSummary* find(const std::string& id);  // under mutex_
  const MessageSummary* find(const std::string& id) const;  // under mutex_

  store::Spool& spool_;
  const std::size_t max_messages_;
  mutable std::mutex mutex_;
  std::deque<MessageSummary> index_;  // oldest first
  std::uint64_t accepted_ = 0, accepted_bytes_ = 0, deleted_ = 0;
};

// The Subject: of a message, decoded, from its header section alone.
std::string subject_of(std::string_view message);

}  // namespace postern::testbed
