// The messages the testbed kept (SPEC §10 /api/messages): it accepts and
// keeps every message in its spool and delivers none, so the spool is the
// store. MIME is read with GMime (headers decoded, text and HTML parts,
// attachments), never by hand.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/spool.hpp"

namespace postern::testbed {

struct Attachment {
  std::string filename;
  std::string content_type;
  std::uint64_t size = 0;  // decoded octets
};

struct ParsedMessage {
  std::string subject;
  std::vector<std::pair<std::string, std::string>> headers;  // decoded values, in order
  std::string text;  // the first text/plain part that is not an attachment
  std::string html;  // the first text/html part that is not an attachment
  std::vector<Attachment> attachments;
};

// Never throws; a message GMime cannot read gives empty fields.
ParsedMessage parse_message(std::string_view bytes);

struct MessageInfo {
  std::string id;
  std::string from;
  std::vector<std::string> to;
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point received{};
  ParsedMessage parsed;
};

class Messages {
 public:
  explicit Messages(store::Spool& spool) : spool_(spool) {}
  std::vector<MessageInfo> list() const;  // newest first
  std::optional<MessageInfo> get(const std::string& id) const;
  std::optional<std::string> raw(const std::string& id) const;
  void clear();

 private:
  store::Spool& spool_;
};

}  // namespace postern::testbed
