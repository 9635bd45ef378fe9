// Durable file writes (STYLE §6): a file becomes visible under its final
// name only once its bytes are on stable storage, and its directory entry
// is made durable too. The shape: create a temporary name in the same
// directory with O_EXCL, write, fsync the file, rename over the final name,
// fsync the directory. The temporary file is unlinked on any failure.
//
// Every system call that can fail goes through `Syscalls`, which tests
// replace to inject fsync, rename, write and open failures (see
// `SyscallOverride`). Errors throw store::IoError (a std::system_error
// carrying errno and the path); callers turn them into 4xx replies.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>

namespace postern::store {

struct IoError : std::system_error {
  IoError(int err, const std::string& what) : std::system_error(err, std::generic_category(), what) {}
};

// The failure seam. Each pointer behaves like the libc call it names.
struct Syscalls {
  int (*open)(const char* path, int flags, mode_t mode);
  ssize_t (*write)(int fd, const void* buf, size_t n);
  int (*fsync)(int fd);
  int (*rename)(const char* from, const char* to);
  int (*link)(const char* from, const char* to);
};

// The table in use (process-wide). Only tests change it.
Syscalls& syscalls();
// The real libc calls.
Syscalls real_syscalls();

// Restores the real table when it goes out of scope (tests).
class SyscallOverride {
 public:
  explicit SyscallOverride(const Syscalls& replacement) : saved_(syscalls()) { syscalls() = replacement; }
  ~SyscallOverride() { syscalls() = saved_; }
  SyscallOverride(const SyscallOverride&) = delete;
  SyscallOverride& operator=(const SyscallOverride&) = delete;

 private:
  Syscalls saved_;
};

// An open file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

// Writes all of `bytes` to fd (retrying short writes and EINTR). Throws IoError.
void write_all(int fd, std::string_view bytes, const std::filesystem::path& what);

// fsync(2) with EINTR retry. Throws IoError.
void fsync_fd(int fd, const std::filesystem::path& what);

// Opens `dir` read-only and fsyncs it, so renames and creations in it are durable.
void fsync_dir(const std::filesystem::path& dir);

// Creates `path` exclusively (O_EXCL), writes `bytes`, fsyncs; the file is
// unlinked if any step fails. Does not fsync the directory.
void write_new_synced(const std::filesystem::path& path, std::string_view bytes, mode_t mode = 0600);
// The same for a file made of pieces (no copy to join them).
void write_new_synced(const std::filesystem::path& path, std::initializer_list<std::string_view> pieces,
                      mode_t mode = 0600);

// rename(2) through the seam. Throws IoError.
void rename_file(const std::filesystem::path& from, const std::filesystem::path& to);

// The whole durable write: temp name in target's directory, write, fsync,
// rename over `target`, fsync the directory. When it returns, `target`
// holds `bytes` on stable storage. When it throws, no temporary file is
// left behind and `target` holds either its old content or, if only the
// final directory fsync failed, the new content (not known to be durable).
// `sync_dir = false` skips the directory fsync (the caller batches it).
void write_durably(const std::filesystem::path& target, std::string_view bytes, mode_t mode = 0600,
                   bool sync_dir = true);

// write_durably for a file that must not be replaced once it exists (a
// key, a secret): the temporary gets its name with link(2), which refuses
// an existing one. Returns false, leaving `target` and nothing else behind,
// when `target` exists. `prepare` runs on the synced temporary before it is
// linked (a chown). Throws IoError.
bool create_durably(const std::filesystem::path& target, std::string_view bytes, mode_t mode = 0600,
                    const std::function<void(const std::filesystem::path& tmp)>& prepare = {});

// mkdir -p whose result survives a crash: each directory it creates is
// made durable by an fsync of its parent. `dir` gets `mode`, missing
// levels above it `parents_mode` (0: `mode` too; 0755 for a data dir whose
// parents others must cross). Returns true if it created any. Throws IoError.
bool create_directories_durably(const std::filesystem::path& dir, mode_t mode = 0700, mode_t parents_mode = 0);

// Reads a whole file. Throws IoError (ENOENT when absent).
std::string read_file(const std::filesystem::path& path);

}  // namespace postern::store
