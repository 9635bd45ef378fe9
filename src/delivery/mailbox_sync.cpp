#include "delivery/mailbox_sync.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <set>
#include <string_view>

#include "store/durable_file.hpp"

namespace postern::delivery {
namespace fs = std::filesystem;
using store::Fd;
using store::IoError;

namespace {

// Files synced together: the fds of a chunk stay open from its writeback
// pass to its fdatasync pass, so a large batch never runs out of them.
constexpr std::size_t chunk_files = 128;

// cur/<name>:2,<flags> when a reader moved new/<name> there (or with ';'
// or '!' for ':', which readers use where a file system forbids colons).
std::optional<fs::path> moved_to_cur(const fs::path& mailbox, const std::string& name) {
  const fs::path cur = mailbox / "cur";
  DIR* dir = ::opendir(cur.c_str());
  if (!dir) {
    if (errno == ENOENT) return std::nullopt;
    throw IoError(errno, "open " + cur.string());  // not "expunged": the batch is kept
  }
  std::optional<fs::path> found;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view n(e->d_name);
    if (n.size() > name.size() && n.substr(0, name.size()) == name &&
        std::string_view(":;!").find(n[name.size()]) != std::string_view::npos) {
      found = cur / std::string(n);
      break;
    }
  }
  ::closedir(dir);
  return found;
}

struct Open {
  Fd fd;
  fs::path path;
};

void sync_chunk(const MailboxFile* first, const MailboxFile* last, std::set<fs::path>& dirs) {
  std::vector<Open> open;
  open.reserve(static_cast<std::size_t>(last - first));
  for (const auto* f = first; f != last; ++f) {
    fs::path path = f->mailbox / "new" / f->name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
      auto moved = moved_to_cur(f->mailbox, f->name);
      if (!moved) continue;  // expunged already
      path = *moved;
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0 && errno == ENOENT) continue;
    }
    if (fd < 0) throw IoError(errno, "open " + path.string());
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);  // a hint: errors show in fdatasync
    dirs.insert(path.parent_path());
    open.push_back({Fd(fd), std::move(path)});
  }
  for (auto& o : open) {
    if (store::syscalls().fsync != store::real_syscalls().fsync) {
      store::fsync_fd(o.fd.get(), o.path);  // tests inject failures through the fsync seam
    } else {
      while (::fdatasync(o.fd.get()) != 0) {
        if (errno != EINTR) throw IoError(errno, "fdatasync " + o.path.string());
      }
    }
    o.fd.reset();
  }
}

}  // namespace

void sync_mailbox_files(const std::vector<MailboxFile>& files) {
  std::set<fs::path> dirs;
  for (std::size_t i = 0; i < files.size(); i += chunk_files) {
    const std::size_t end = std::min(files.size(), i + chunk_files);
    sync_chunk(files.data() + i, files.data() + end, dirs);
  }
  // After the files: a name made by linkat or rename is durable once its
  // directory is synced, and on ext4 and XFS this also commits the link
  // count of a file that was unnamed until then.
  for (const auto& dir : dirs) store::fsync_dir(dir);
}

}  // namespace postern::delivery
