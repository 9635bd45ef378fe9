// The messages the testbed kept (SPEC §10 /api/messages): it accepts and
// keeps every message in its spool and delivers none, so the spool is the
// store. MIME is read by mime/reader.hpp (GMime).
#pragma once

#include <chrono>
#include <cstdint>
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
