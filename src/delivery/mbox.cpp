#include "delivery/mbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <functional>

#include "store/durable_file.hpp"

namespace postern::delivery {
using namespace store;  // the durable-file primitives and the spool this layer builds on
namespace {

std::filesystem::path lock_path(const std::filesystem::path& file) { return file.string() + ".lock"; }

bool dotlock_stale(const std::filesystem::path& lock, std::chrono::seconds stale_after) {
  struct stat st{};
  if (::stat(lock.c_str(), &st) != 0) return errno == ENOENT;
  return std::time(nullptr) - st.st_mtime > stale_after.count();
}

// Takes the dotlock; false if someone else holds a fresh one.
bool take_dotlock(const std::filesystem::path& lock, std::chrono::seconds stale_after) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      std::string pid = std::to_string(::getpid()) + "\n";
      (void)!::write(fd, pid.data(), pid.size());
      ::close(fd);
      return true;
    }
    if (errno != EEXIST) throw IoError(errno, "create " + lock.string());
    // Like procmail: a lock file older than the timeout is left over from a
    // crashed writer and may be removed.
    if (!dotlock_stale(lock, stale_after)) return false;
    ::unlink(lock.c_str());
  }
  return false;
}

bool line_needs_quote(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] == '>') ++i;
  return line.substr(i, 5) == "From ";
}

std::string asctime_utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

// A delivery repeated after a crash (appended and fsynced, not yet marked
// delivered in the spool) finds its first copy: the same octets (the From_
// line with the time of receipt, Return-Path:, our Received: with the queue
// id, the message) starting a line near the end of the file. Only the last
// `entry.size() + repeat_window` octets are read: more than that appended
// after it before the repeat (other crashed deliveries, new mail) and a
// second copy is written, never none.
constexpr std::size_t repeat_window = 4 * 1024 * 1024;

bool already_appended(int fd, off_t size, std::string_view entry) {
  if (static_cast<std::uint64_t>(size) < entry.size()) return false;
  const auto want = static_cast<off_t>(std::min<std::uint64_t>(size, entry.size() + repeat_window));
  std::string tail(static_cast<std::size_t>(want), '\0');
  std::size_t got = 0;
  while (got < tail.size()) {
    ssize_t n = ::pread(fd, tail.data() + got, tail.size() - got, size - want + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  const bool at_start = want == size;
  const std::boyer_moore_horspool_searcher searcher(entry.begin(), entry.end());
  for (auto it = tail.cbegin();;) {
    it = std::search(it, tail.cend(), searcher);
    if (it == tail.cend()) return false;
    const auto pos = static_cast<std::size_t>(it - tail.cbegin());
    if ((pos == 0 && at_start) || (pos > 0 && tail[pos - 1] == '\n')) return true;
    ++it;
  }
}

}  // namespace

std::string mbox_entry(std::string_view reverse_path, std::string_view message,
                       std::chrono::system_clock::time_point received_at) {
  std::string out;
  out.reserve(message.size() + message.size() / 50 + 128);
  out += "From ";
  // RFC 4155: the null sender is conventionally MAILER-DAEMON.
  out += reverse_path.empty() ? std::string_view("MAILER-DAEMON") : reverse_path;
  out += ' ';
  out += asctime_utc(received_at);
  out += '\n';
  std::size_t pos = 0;
  while (pos < message.size()) {
    auto nl = message.find('\n', pos);
    std::string_view line = message.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? message.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_needs_quote(line)) out += '>';
    out += line;
    out += '\n';
  }
  out += '\n';
  return out;
}

MboxResult mbox_deliver(const std::filesystem::path& file, std::string_view reverse_path, std::string_view message,
                        std::chrono::system_clock::time_point received_at, std::chrono::seconds stale_after) {
  create_directories_durably(file.parent_path());
  const auto lock = lock_path(file);
  if (!take_dotlock(lock, stale_after)) return MboxResult::locked;
  struct DotlockGuard {
    const std::filesystem::path& p;
    ~DotlockGuard() { ::unlink(p.c_str()); }
  } dotlock_guard{lock};

  struct stat before{};
  const bool existed = ::stat(file.c_str(), &before) == 0;
  int fd = syscalls().open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError(errno, "open " + file.string());
  Fd guard(fd);
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_SETLK, &fl) != 0) {
    if (errno == EACCES || errno == EAGAIN) return MboxResult::locked;
    throw IoError(errno, "fcntl " + file.string());
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw IoError(errno, "stat " + file.string());
  const std::string entry = mbox_entry(reverse_path, message, received_at);
  if (already_appended(fd, st.st_size, entry)) {
    fsync_fd(fd, file);  // the first attempt's fsync may not have run
    fsync_dir(file.parent_path());
    return MboxResult::delivered;
  }
  try {
    write_all(fd, entry, file);
    fsync_fd(fd, file);
  } catch (...) {
    // Leave the mbox as it was: no half message for readers to trip over.
    (void)!::ftruncate(fd, st.st_size);
    ::fsync(fd);
    throw;
  }
  if (!existed) fsync_dir(file.parent_path());
  return MboxResult::delivered;
}

bool mbox_locked(const std::filesystem::path& file, std::chrono::seconds stale_after) {
  struct stat st{};
  if (::stat(lock_path(file).c_str(), &st) == 0 && !dotlock_stale(lock_path(file), stale_after)) return true;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Fd guard(fd);
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_GETLK, &fl) != 0) return false;
  return fl.l_type != F_UNLCK;
}

}  // namespace postern::delivery
