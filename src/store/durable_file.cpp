#include "store/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "util/ids.hpp"

namespace postern::store {
namespace {

int real_open(const char* path, int flags, mode_t mode) { return ::open(path, flags, mode); }
ssize_t real_write(int fd, const void* buf, size_t n) { return ::write(fd, buf, n); }
int real_fsync(int fd) { return ::fsync(fd); }
int real_rename(const char* from, const char* to) { return ::rename(from, to); }
int real_link(const char* from, const char* to) { return ::link(from, to); }

[[noreturn]] void fail(int err, const std::string& op, const std::filesystem::path& path) {
  throw IoError(err, op + " " + path.string());
}

}  // namespace

Syscalls real_syscalls() { return Syscalls{real_open, real_write, real_fsync, real_rename, real_link}; }

Syscalls& syscalls() {
  static Syscalls table = real_syscalls();
  return table;
}

Fd::~Fd() { reset(); }

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void write_all(int fd, std::string_view bytes, const std::filesystem::path& what) {
  while (!bytes.empty()) {
    ssize_t n = syscalls().write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, "write", what);
    }
    if (n == 0) fail(EIO, "write", what);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void fsync_fd(int fd, const std::filesystem::path& what) {
  for (;;) {
    if (syscalls().fsync(fd) == 0) return;
    // A failed fsync is not retried blindly: after EIO the page cache may
    // have dropped the dirty pages (the "fsyncgate" lesson). Only EINTR is.
    if (errno != EINTR) fail(errno, "fsync", what);
  }
}

void fsync_dir(const std::filesystem::path& dir) {
  int fd = syscalls().open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) fail(errno, "open", dir);
  Fd guard(fd);
  fsync_fd(fd, dir);
}

void write_new_synced(const std::filesystem::path& path, std::string_view bytes, mode_t mode) {
  write_new_synced(path, {bytes}, mode);
}

void write_new_synced(const std::filesystem::path& path, std::initializer_list<std::string_view> pieces, mode_t mode) {
  int fd = syscalls().open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) fail(errno, "create", path);
  Fd guard(fd);
  try {
    for (auto piece : pieces) write_all(fd, piece, path);
    fsync_fd(fd, path);
  } catch (...) {
    guard.reset();
    ::unlink(path.c_str());
    throw;
  }
  guard.reset();
}

void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (syscalls().rename(from.c_str(), to.c_str()) != 0) fail(errno, "rename", from.string() + " -> " + to.string());
}

void write_durably(const std::filesystem::path& target, std::string_view bytes, mode_t mode, bool sync_dir) {
  auto dir = target.parent_path();
  if (dir.empty()) dir = ".";
  // Leading dot: readers that list the directory skip temporaries.
  auto tmp = dir / ("." + target.filename().string() + "." + util::random_hex(6) + ".tmp");
  write_new_synced(tmp, bytes, mode);
  try {
    rename_file(tmp, target);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (sync_dir) fsync_dir(dir);
}

bool create_durably(const std::filesystem::path& target, std::string_view bytes, mode_t mode,
                    const std::function<void(const std::filesystem::path& tmp)>& prepare) {
  auto dir = target.parent_path();
  if (dir.empty()) dir = ".";
  auto tmp = dir / ("." + target.filename().string() + "." + util::random_hex(6) + ".tmp");
  write_new_synced(tmp, bytes, mode);
  int rc = 0, err = 0;
  try {
    if (prepare) prepare(tmp);
    rc = syscalls().link(tmp.c_str(), target.c_str());
    err = errno;
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (err == EEXIST) return false;
    fail(err, "link", target);
  }
  fsync_dir(dir);
  return true;
}

std::string read_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "open", path);
  Fd guard(fd);
  struct stat st{};
  std::string out;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

bool create_directories_durably(const std::filesystem::path& dir, mode_t mode, mode_t parents_mode) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw IoError(ENOTDIR, "mkdir " + dir.string());
    return false;
  }
  const auto parent = dir.parent_path();
  if (!parent.empty() && parent != dir) {
    const mode_t above = parents_mode ? parents_mode : mode;
    create_directories_durably(parent, above, above);
  }
  if (::mkdir(dir.c_str(), mode) != 0) {
    if (errno == EEXIST) return false;  // made meanwhile by someone else, who syncs it
    fail(errno, "mkdir", dir);
  }
  fsync_dir(parent.empty() ? std::filesystem::path(".") : parent);
  return true;
}

}  // namespace postern::store
