// "In flight" markers (data_dir/queue/inflight/): one file per open
// outbound connection, naming the messages whose final dot has gone out
// and whose outcome is not recorded yet (a few slots, since a connection
// sends its next message while the last one is being recorded; a blank
// slot is free). A kill -9 in that window re-sends those messages after
// restart, the one duplicate a queue cannot avoid; the markers found at
// start count them. The file is rewritten in place (no file created or
// removed per message) and never fsynced: it is for a process that dies.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "store/durable_file.hpp"

namespace postern::queue {

class InflightMarker {
 public:
  // Creates a marker with `slots` slots in `dir`; when that fails the
  // marker does nothing (and still hands out slots).
  explicit InflightMarker(const std::filesystem::path& dir, unsigned slots = 1);
  // Removes the marker, unless a message is still in flight.
  ~InflightMarker();
  InflightMarker(const InflightMarker&) = delete;
  InflightMarker& operator=(const InflightMarker&) = delete;

  // `id` (a queue id) is in flight now, in the slot returned; -1 when
  // every slot is taken (the caller waits for one first).
  int set(std::string_view id);
  // The message in `slot` is recorded.
  void clear(int slot);
  unsigned busy() const { return busy_; }

 private:
  void write(unsigned slot, std::string_view line);
  std::filesystem::path path_;
  store::Fd fd_;
  std::vector<bool> taken_;
  unsigned busy_ = 0;
};

// At start: the queue ids the markers of an earlier run name, oldest
// format included (one file per message, named by its id); every marker
// is removed.
std::vector<std::string> take_inflight_markers(const std::filesystem::path& dir);

}  // namespace postern::queue
