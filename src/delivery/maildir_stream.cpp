#include "delivery/maildir_stream.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "delivery/maildir.hpp"

namespace postern::delivery {
using namespace store;  // the durable-file primitives this layer builds on
namespace fs = std::filesystem;

namespace {

constexpr std::size_t copy_piece = 1024 * 1024;

}  // namespace

MaildirStream::MaildirStream(const Envelope& envelope, std::string queue_id, std::string_view head,
                             std::vector<Target> targets)
    : envelope_(envelope), queue_id_(std::move(queue_id)), targets_(std::move(targets)), head_size_(head.size()) {
  if (targets_.empty()) throw std::invalid_argument("maildir stream without a mailbox");
  for (const auto& t : targets_) ensure_maildir(t.mailbox);
  const auto& first = targets_.front();
  tmp_ = first.mailbox / "tmp" / (maildir_fixed_prefix(envelope_, queue_id_, first.recipient) + maildir_host());
  int fd = syscalls().open(tmp_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError(errno, "create " + tmp_.string());
  fd_ = Fd(fd);
  try {
    write_all(fd, head, tmp_);
  } catch (...) {
    fd_.reset();
    ::unlink(tmp_.c_str());
    throw;
  }
}

MaildirStream::~MaildirStream() {
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void MaildirStream::append(std::string_view bytes) {
  if (!fd_) throw IoError(EBADF, "write " + tmp_.string());
  // A short write leaves octets past size_ in the file: the next append
  // writes over them, read() never sees them.
  if (::lseek(fd_.get(), static_cast<off_t>(head_size_ + size_), SEEK_SET) < 0) throw IoError(errno, "seek " + tmp_.string());
  write_all(fd_.get(), bytes, tmp_);
  size_ += bytes.size();
}

std::string MaildirStream::read(std::uint64_t offset, std::size_t max) const {
  std::string out;
  if (!fd_ || offset >= size_) return out;
  out.resize(static_cast<std::size_t>(std::min<std::uint64_t>(max, size_ - offset)));
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd_.get(), out.data() + got, out.size() - got, static_cast<off_t>(head_size_ + offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError(errno, "read " + tmp_.string());
    if (n == 0) throw IoError(EIO, "read " + tmp_.string() + ": short");
    got += static_cast<std::size_t>(n);
  }
  return out;
}

std::string MaildirStream::name_for(const Target& target) const {
  return maildir_fixed_name(envelope_, queue_id_, target.recipient, static_cast<std::size_t>(head_size_ + size_));
}

fs::path MaildirStream::final_path(const Target& target) const { return target.mailbox / "new" / name_for(target); }

// The whole file (head and message) into a new synced file at `tmp`, for a
// mailbox that link(2) cannot reach.
void MaildirStream::copy_to(const fs::path& tmp) const {
  int fd = syscalls().open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError(errno, "create " + tmp.string());
  Fd out(fd);
  try {
    std::string buf;
    const std::uint64_t total = head_size_ + size_;
    for (std::uint64_t at = 0; at < total;) {
      buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(copy_piece, total - at)));
      ssize_t n = ::pread(fd_.get(), buf.data(), buf.size(), static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw IoError(errno, "read " + tmp_.string());
      if (n == 0) throw IoError(EIO, "read " + tmp_.string() + ": short");
      write_all(fd, std::string_view(buf.data(), static_cast<std::size_t>(n)), tmp);
      at += static_cast<std::uint64_t>(n);
    }
    fsync_fd(fd, tmp);
  } catch (...) {
    out.reset();
    ::unlink(tmp.c_str());
    throw;
  }
}

void MaildirStream::commit() {
  if (!fd_) throw IoError(EBADF, "commit " + tmp_.string());
  if (committed_) return;
  // The octets first: every name below points at a file already on stable storage.
  fsync_fd(fd_.get(), tmp_);
  std::vector<fs::path> placed;  // in new/, undone if a later step fails
  std::vector<fs::path> dirs;    // new/ directories to fsync
  const auto undo = [&] {
    for (const auto& p : placed) ::unlink(p.c_str());
  };
  try {
    for (std::size_t i = 1; i < targets_.size(); ++i) {
      const auto& t = targets_[i];
      const auto dest = final_path(t);
      if (syscalls().link(tmp_.c_str(), dest.c_str()) != 0) {
        const int err = errno;
        if (err != EXDEV) throw IoError(err, "link " + tmp_.string() + " -> " + dest.string());
        // Another file system: a copy of its own, synced before it is named in new/.
        const auto copy = t.mailbox / "tmp" / name_for(t);
        ::unlink(copy.c_str());
        copy_to(copy);
        try {
          rename_file(copy, dest);
        } catch (...) {
          ::unlink(copy.c_str());
          throw;
        }
      }
      placed.push_back(dest);
      dirs.push_back(t.mailbox / "new");
    }
    const auto first = final_path(targets_.front());
    rename_file(tmp_, first);
    placed.push_back(first);
    dirs.push_back(targets_.front().mailbox / "new");
    // A name is durable only once its directory is: each new/ once.
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    for (const auto& d : dirs) fsync_dir(d);
  } catch (...) {
    // What new/ got goes again; the open descriptor still reads the message.
    undo();
    throw;
  }
  committed_ = true;
}

}  // namespace postern::delivery
