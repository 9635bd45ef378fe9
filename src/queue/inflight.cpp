#include "queue/inflight.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "store/spool.hpp"
#include "util/ids.hpp"

namespace postern::queue {

namespace fs = std::filesystem;

namespace {

// Every record has the same length, so a rewrite never leaves a longer
// one's tail behind: a queue id (16 hex digits) or 16 dashes, and a newline.
constexpr std::string_view idle_line = "----------------\n";

}  // namespace

InflightMarker::InflightMarker(const fs::path& dir, unsigned slots)
    : path_(dir / ("conn-" + util::random_hex(8))), taken_(std::max(1u, slots), false) {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) fd_ = store::Fd(fd);
  std::string blank;
  for (std::size_t i = 0; i < taken_.size(); ++i) blank += idle_line;
  if (fd_) {
    [[maybe_unused]] const ssize_t n = ::pwrite(fd_.get(), blank.data(), blank.size(), 0);
  }
}

InflightMarker::~InflightMarker() {
  if (!fd_) return;
  fd_.reset();
  // Ended in the middle of a message (the server stopping): the marker
  // stays, so the next start counts the possible duplicate.
  if (busy_ == 0) ::unlink(path_.c_str());
}

int InflightMarker::set(std::string_view id) {
  for (std::size_t slot = 0; slot < taken_.size(); ++slot) {
    if (taken_[slot]) continue;
    taken_[slot] = true;
    ++busy_;
    if (id.size() + 1 == idle_line.size()) {
      std::string line(id);
      line += '\n';
      write(static_cast<unsigned>(slot), line);
    }
    return static_cast<int>(slot);
  }
  return -1;
}

void InflightMarker::clear(int slot) {
  if (slot < 0 || static_cast<std::size_t>(slot) >= taken_.size() || !taken_[slot]) return;
  taken_[slot] = false;
  --busy_;
  write(static_cast<unsigned>(slot), idle_line);
}

void InflightMarker::write(unsigned slot, std::string_view line) {
  if (!fd_) return;
  // Best effort, as the marker is: a short write leaves a line recovery ignores.
  [[maybe_unused]] const ssize_t n =
      ::pwrite(fd_.get(), line.data(), line.size(), static_cast<off_t>(slot * idle_line.size()));
}

std::vector<std::string> take_inflight_markers(const fs::path& dir) {
  std::vector<std::string> ids;
  std::vector<fs::path> markers;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) markers.push_back(it->path());
  for (const auto& m : markers) {
    const std::string stem = m.stem().string();
    if (store::Spool::valid_id(stem)) {
      ids.push_back(stem);  // one file per message, as earlier versions wrote them
    } else {
      std::string line;
      try {
        line = store::read_file(m);
      } catch (const std::exception&) {
      }
      for (std::size_t at = 0; at + idle_line.size() <= line.size(); at += idle_line.size()) {
        const std::string_view slot = std::string_view(line).substr(at, idle_line.size() - 1);
        if (line[at + idle_line.size() - 1] == '\n' && store::Spool::valid_id(slot)) ids.emplace_back(slot);
      }
    }
    fs::remove(m, ec);
  }
  return ids;
}

}  // namespace postern::queue
