#include "delivery/staged_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace postern::delivery {
namespace fs = std::filesystem;
using store::Fd;
using store::IoError;
using store::syscalls;

namespace {

// Errors that say "this file system (or kernel) has no O_TMPFILE".
bool no_unnamed_files(int err) { return err == EOPNOTSUPP || err == EISDIR || err == EINVAL || err == ENOSYS; }

void write_pieces(int fd, std::string_view head, std::string_view body, const fs::path& what) {
  store::write_all(fd, head, what);
  store::write_all(fd, body, what);
}

}  // namespace

StagedFile StagedFile::write(const fs::path& mailbox, const std::string& name, std::string_view head,
                             std::string_view body, bool& unnamed) {
  StagedFile f;
  f.final_ = mailbox / "new" / name;
  if (unnamed) {
    const fs::path dir = mailbox / "new";
    int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
      f.fd_ = Fd(fd);
      write_pieces(fd, head, body, f.final_);  // on a throw the unnamed file simply goes with f
      return f;
    }
    if (!no_unnamed_files(errno)) throw IoError(errno, "create in " + dir.string());
    unnamed = false;
  }
  const fs::path tmp = mailbox / "tmp" / name;
  int fd = syscalls().open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError(errno, "create " + tmp.string());
  Fd file(fd);
  f.tmp_ = tmp;
  write_pieces(fd, head, body, tmp);  // on a throw f's destructor unlinks it
  return f;
}

void StagedFile::publish() {
  if (fd_) {
    // linkat(fd, "", ..., AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the
    // /proc/self/fd link does the same for any user.
    char proc[64];
    std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd_.get());
    if (::linkat(AT_FDCWD, proc, AT_FDCWD, final_.c_str(), AT_SYMLINK_FOLLOW) != 0)
      throw IoError(errno, "link " + final_.string());
    fd_.reset();
    return;
  }
  if (!tmp_.empty()) {
    store::rename_file(tmp_, final_);
    tmp_.clear();
  }
}

void StagedFile::discard() {
  fd_.reset();
  if (!tmp_.empty()) {
    ::unlink(tmp_.c_str());
    tmp_.clear();
  }
}

}  // namespace postern::delivery
