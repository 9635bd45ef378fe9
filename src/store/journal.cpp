#include "store/journal.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <utility>

#include "store/spool.hpp"

namespace postern::store {
namespace fs = std::filesystem;

namespace {

std::uint32_t checksum(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes lengths as uInt: feed large payloads in pieces.
  while (!bytes.empty()) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(bytes.size(), 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), n);
    bytes.remove_prefix(n);
  }
  return static_cast<std::uint32_t>(crc);
}

bool parse_segment_name(const std::string& name, std::uint64_t& seq) {
  if (name.size() != 20 || name.substr(16) != ".log") return false;
  auto [p, ec] = std::from_chars(name.data(), name.data() + 16, seq, 16);
  return ec == std::errc() && p == name.data() + 16;
}

std::vector<std::string> split_lines(std::string_view payload) {
  std::vector<std::string> out;
  while (!payload.empty()) {
    auto nl = payload.find('\n');
    auto line = payload.substr(0, nl);
    if (!line.empty()) out.emplace_back(line);
    if (nl == std::string_view::npos) break;
    payload.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

// One group commit: every append that found it open, and what to call when it is durable.
struct Journal::Batch {
  std::vector<std::string> ids;
  std::vector<Durable> durable;
};

Journal::Journal(fs::path dir, std::uint64_t segment_octets)
    : dir_(std::move(dir)), segment_octets_(segment_octets), open_(std::make_shared<Batch>()) {}

Journal::~Journal() { close(); }

void Journal::close() {
  std::unique_lock lock(mutex_);
  // Appenders still waiting get their flush; retire records still in memory
  // are written too (a lost one only costs a check at start-up). A flush
  // lets go of the lock to call back, and another appender may start the
  // next one then: leave only when no flush runs and none is due.
  for (;;) {
    flushed_cv_.wait(lock, [&] { return !flushing_; });
    if (open_->ids.empty()) break;
    flush_locked(lock);
  }
  if (!buffer_.empty() && fd_) {
    try {
      write_all(fd_.get(), buffer_, segment_path(segment_));
    } catch (const IoError&) {
    }
  }
  buffer_.clear();
  fd_.reset();
  if (segment_of_.empty()) {
    // Nothing is live: leave no segment behind.
    std::error_code ec;
    for (const auto& [seq, n] : live_per_segment_) fs::remove(segment_path(seq), ec);
    if (segment_ != 0) fs::remove(segment_path(segment_), ec);
  }
}

fs::path Journal::segment_path(std::uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.log", static_cast<unsigned long long>(seq));
  return dir_ / name;
}

std::string Journal::encode_record(char type, std::string_view payload) {
  char head[64];
  int n = std::snprintf(head, sizeof head, "J %c %zu %08x\n", type, payload.size(), checksum(payload));
  std::string out(head, static_cast<std::size_t>(n));
  out += payload;
  return out;
}

std::vector<Journal::Record> Journal::decode_records(std::string_view bytes) {
  std::vector<Record> out;
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos || nl > 48) break;
    std::string_view head = bytes.substr(0, nl);
    // "J <type> <length> <crc>"
    if (head.size() < 8 || head[0] != 'J' || head[1] != ' ' || head[3] != ' ') break;
    const char type = head[2];
    auto rest = head.substr(4);
    auto sp = rest.find(' ');
    if (sp == std::string_view::npos) break;
    std::uint64_t length = 0;
    std::uint32_t crc = 0;
    auto len_text = rest.substr(0, sp), crc_text = rest.substr(sp + 1);
    auto [lp, lec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), length);
    auto [cp, cec] = std::from_chars(crc_text.data(), crc_text.data() + crc_text.size(), crc, 16);
    if (lec != std::errc() || lp != len_text.data() + len_text.size() || cec != std::errc() ||
        cp != crc_text.data() + crc_text.size() || crc_text.size() != 8)
      break;
    if (length > bytes.size() - nl - 1) break;  // torn
    auto payload = bytes.substr(nl + 1, length);
    if (checksum(payload) != crc) break;
    out.push_back({type, payload});
    bytes.remove_prefix(nl + 1 + length);
  }
  return out;
}

std::vector<Journal::Entry> Journal::recover() {
  std::vector<std::uint64_t> seqs;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::uint64_t seq = 0;
    if (parse_segment_name(it->path().filename().string(), seq)) seqs.push_back(seq);
  }
  if (ec == std::errc::no_such_file_or_directory) return {};  // nothing was ever journaled
  if (ec) throw IoError(ec.value(), "list " + dir_.string());
  std::sort(seqs.begin(), seqs.end());

  std::vector<Entry> entries;
  std::unordered_map<std::string, std::size_t> index;  // id → position in entries
  std::unordered_map<std::string, std::uint64_t> where;
  for (auto seq : seqs) {
    const std::string bytes = read_file(segment_path(seq));
    for (const auto& rec : decode_records(bytes)) {
      if (rec.type == 'M') {
        auto d = decode_message_file(rec.payload, rec.payload.size(), rec.payload);
        if (!d || index.count(d->id)) continue;
        index[d->id] = entries.size();
        where[d->id] = seq;
        entries.push_back({d->id, d->envelope, std::string(rec.payload.substr(d->message_offset, d->message_size))});
      } else if (rec.type == 'R') {
        for (const auto& id : split_lines(rec.payload)) where.erase(id);
      }
    }
  }
  std::vector<Entry> live;
  std::lock_guard lock(mutex_);
  for (auto& e : entries) {
    auto it = where.find(e.id);
    if (it == where.end()) continue;
    segment_of_[e.id] = it->second;
    live_per_segment_[it->second] += 1;
    live.push_back(std::move(e));
  }
  // Segments with nothing live are done with.
  for (auto seq : seqs)
    if (!live_per_segment_.count(seq)) fs::remove(segment_path(seq), ec);
  if (!seqs.empty()) next_segment_ = seqs.back() + 1;
  return live;
}

void Journal::open_segment_locked() {
  // Made on first use, so a server that never journals never touches it.
  create_directories_durably(dir_);
  segment_ = next_segment_++;
  segment_size_ = 0;
  const auto path = segment_path(segment_);
  int fd = syscalls().open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError(errno, "create " + path.string());
  fd_ = Fd(fd);
  // The new name must survive a crash before anything in it counts.
  fsync_dir(dir_);
}

void Journal::append(std::string_view id, const Envelope& envelope, std::string_view message) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  int error = 0;
  append_async(id, envelope, message, [&](int e) {
    std::lock_guard lock(m);
    error = e;
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done; });
  if (error) throw IoError(error, "journal " + dir_.string());
}

void Journal::append_async(std::string_view id, const Envelope& envelope, std::string_view message,
                           Durable durable) {
  std::string record = encode_record('M', encode_message_file(id, envelope, message));
  std::unique_lock lock(mutex_);
  queue_locked(id, std::move(record), std::move(durable));
  // A flush under way takes this batch next (its thread loops); else this
  // thread flushes, and keeps flushing while appends arrive. Once queued,
  // the callback is the only answer: nothing is thrown past this point.
  try {
    while (!flushing_ && !open_->ids.empty()) flush_locked(lock);
  } catch (const std::exception&) {  // out of memory before a flush began: the next append flushes it
  }
}

void Journal::queue_locked(std::string_view id, std::string record, Durable durable) {
  open_->ids.reserve(open_->ids.size() + 1);
  open_->durable.reserve(open_->durable.size() + 1);
  buffer_ += record;  // the last step that may throw: nothing half-queued
  open_->ids.emplace_back(id);
  open_->durable.push_back(std::move(durable));
}

// The leader's part of a group commit: write everything queued, one
// fdatasync, then wake every appender of the batch.
void Journal::flush_locked(std::unique_lock<std::mutex>& lock) {
  auto next = std::make_shared<Batch>();
  flushing_ = true;
  auto batch = std::exchange(open_, std::move(next));
  std::string data;
  data.swap(buffer_);
  int err = 0;
  std::uint64_t seq = 0;
  int fd = -1;
  try {
    if (!fd_) open_segment_locked();
    fd = fd_.get();
    seq = segment_;
  } catch (const std::system_error& e) {  // IoError, filesystem_error
    err = e.code().value();
  } catch (const std::exception&) {
    err = ENOMEM;
  }
  if (!err) {
    lock.unlock();
    try {
      write_all(fd, data, segment_path(seq));
      if (syscalls().fsync == real_syscalls().fsync) {
        while (::fdatasync(fd) != 0) {
          if (errno != EINTR) throw IoError(errno, "fdatasync " + segment_path(seq).string());
        }
      } else {
        fsync_fd(fd, segment_path(seq));  // tests inject failures through the fsync seam
      }
    } catch (const std::system_error& e) {  // IoError, filesystem_error
      err = e.code().value();
    } catch (const std::exception&) {
      err = ENOMEM;
    }
    lock.lock();
  }
  flushing_ = false;
  ++flushes_;
  // Out of memory here leaves the batch on disk but not in the books: its
  // segment then stays until a start-up delivers its records once more.
  try {
    if (err) {
      // The segment's tail is unknown now: start a new one, and say there that
      // the failed batch does not count (its messages were refused).
      fd_.reset();
      std::string ids;
      for (const auto& id : batch->ids) ids += id + "\n";
      if (!ids.empty()) buffer_.insert(0, encode_record('R', ids));
    } else {
      segment_size_ += data.size();
      for (auto& id : batch->ids) {
        segment_of_[id] = seq;
        live_per_segment_[seq] += 1;
      }
      if (segment_size_ >= segment_octets_) {
        // The next batch starts a new segment; this one goes when its last message is retired.
        fd_.reset();
        if (!live_per_segment_.count(seq)) {
          std::error_code ec;
          fs::remove(segment_path(seq), ec);
        }
      }
    }
  } catch (const std::exception&) {
  }
  flushed_cv_.notify_all();
  lock.unlock();
  for (auto& durable : batch->durable) {
    try {
      durable(err);
    } catch (...) {  // one appender's failure must not leave the others waiting
    }
  }
  lock.lock();
}

void Journal::retire(const std::vector<std::string>& ids) {
  std::lock_guard lock(mutex_);
  std::string payload;
  for (const auto& id : ids) {
    auto it = segment_of_.find(id);
    if (it == segment_of_.end()) continue;
    payload += id + "\n";
    const auto seq = it->second;
    segment_of_.erase(it);
    if (--live_per_segment_[seq] == 0) {
      live_per_segment_.erase(seq);
      if (seq != segment_ || !fd_) {
        std::error_code ec;
        fs::remove(segment_path(seq), ec);
      }
    }
  }
  if (!payload.empty()) buffer_ += encode_record('R', payload);
}

std::size_t Journal::live() const {
  std::lock_guard lock(mutex_);
  return segment_of_.size();
}

std::uint64_t Journal::flushes() const {
  std::lock_guard lock(mutex_);
  return flushes_;
}

}  // namespace postern::store
