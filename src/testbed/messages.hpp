// The messages the testbed kept (SPEC §10 /api/messages): it accepts and
// keeps every message in its spool and delivers none, so the spool is the
// store. MIME is read by mime/reader.hpp (GMime).
//
// The list comes from an index built once per message as it arrives (its
// envelope and decoded Subject: only), so listing reads no message;
// one message is parsed in full only when it is asked for by id. At most
// `max_messages` are kept ([testbed] max_messages): the oldest go first,
// as in Mailpit.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
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
using mime::ParsedMessage;
using mime::parse_message;

struct MessageSummary {
  std::string id;
  std::string from;
  std::vector<std::string> to;
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point received{};
  std::string subject;  // decoded
};

struct MessageInfo : MessageSummary {
  ParsedMessage parsed;
};

class Messages {
 public:
  // Indexes what `spool` holds already (dropping the oldest past the cap).
  // `max_messages` 0: no limit.
  Messages(store::Spool& spool, std::size_t max_messages);

  // A message was accepted (Intake::on_accepted): indexes it and drops the
  // oldest past max_messages. Returns the ids dropped.
  std::vector<std::string> added(const std::string& id);

  std::vector<MessageSummary> list() const;  // newest first, from the index
  std::size_t size() const;
  std::optional<MessageInfo> get(const std::string& id) const;  // parsed in full
  std::optional<std::string> raw(const std::string& id) const;
  std::size_t clear();  // returns how many were deleted

 private:
  std::optional<MessageSummary> summarize(const std::string& id) const;
  void insert(MessageSummary m);  // under mutex_
  std::vector<std::string> over_cap();  // under mutex_: unindexes and returns the oldest past the cap

  store::Spool& spool_;
  const std::size_t max_messages_;
  mutable std::mutex mutex_;
  std::deque<MessageSummary> index_;  // oldest first
};

// The Subject: of a message, decoded, from its header section alone.
std::string subject_of(std::string_view message);

}  // namespace postern::testbed
