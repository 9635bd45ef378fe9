#include "queue/inflight.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "store/spool.hpp"
#include "util/ids.hpp"

namespace postern::queue {

namespace fs = std::filesystem;

namespace {

// Every record has the same length, so a rewrite never leaves a longer
// one's tail behind: a queue id (16 hex digits) or 16 dashes, and a newline.
constexpr std::string_view idle_line = "----------------\n";

}  // namespace

InflightMarker::InflightMarker(const fs::path& dir) : path_(dir / ("conn-" + util::random_hex(8))) {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) fd_ = store::Fd(fd);
  write(idle_line);
}

InflightMarker::~InflightMarker() {
  if (!fd_) return;
  fd_.reset();
  ::unlink(path_.c_str());
}

void InflightMarker::set(std::string_view id) {
  if (id.size() + 1 != idle_line.size()) return;
  std::string line(id);
  line += '\n';
  write(line);
}

void InflightMarker::clear() { write(idle_line); }

void InflightMarker::write(std::string_view line) {
  if (!fd_) return;
  // Best effort, as the marker is: a short write leaves a line recover ignores.
  [[maybe_unused]] const ssize_t n = ::pwrite(fd_.get(), line.data(), line.size(), 0);
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
      if (line.size() == idle_line.size() && line.back() == '\n') {
        line.pop_back();
        if (store::Spool::valid_id(line)) ids.push_back(line);
      }
    }
    fs::remove(m, ec);
  }
  return ids;
}

}  // namespace postern::queue
