// "In flight" markers (data_dir/queue/inflight/): one file per open
// outbound connection, naming the message whose final dot has gone out
// and whose outcome is not recorded yet (blank between messages). A
// kill -9 in that window re-sends the message after restart, the one
// duplicate a queue cannot avoid; the markers found at start count them.
// The file is rewritten in place for each message (no file created or
// removed per message) and never fsynced: it is for a process that dies,
// as the per-message marker before it was.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "store/durable_file.hpp"

namespace postern::queue {

class InflightMarker {
 public:
  // Creates a marker in `dir`; when that fails the marker does nothing.
  explicit InflightMarker(const std::filesystem::path& dir);
  ~InflightMarker();
  InflightMarker(const InflightMarker&) = delete;
  InflightMarker& operator=(const InflightMarker&) = delete;

  // `id` (a queue id) is in flight now.
  void set(std::string_view id);
  // Nothing is in flight.
  void clear();

 private:
  void write(std::string_view line);
  std::filesystem::path path_;
  store::Fd fd_;
};

// At start: the queue ids the markers of an earlier run name, oldest
// format included (one file per message, named by its id); every marker
// is removed.
std::vector<std::string> take_inflight_markers(const std::filesystem::path& dir);

}  // namespace postern::queue
