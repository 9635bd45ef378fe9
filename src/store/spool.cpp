#include "store/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "store/durable_file.hpp"
#include "util/ids.hpp"

namespace postern::store {
namespace {

using Clock = std::chrono::system_clock;

constexpr std::string_view msg_magic = "POSTERN-SPOOL 1\n";
constexpr std::string_view state_magic = "POSTERN-STATE 1\n";
constexpr std::size_t head_limit = 4 * 1024 * 1024;  // envelope records never get near this
constexpr std::uint64_t whole_read_limit = 1024 * 1024;  // load_with_message() reads smaller files at once

std::int64_t to_micros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
Clock::time_point from_micros(std::int64_t us) {
  // A damaged file may hold any number: keep the conversion to the clock's
  // finer unit from overflowing (about ±292 years around 1970).
  constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 1000;
  us = std::clamp(us, -limit, limit);
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
}

void add_record(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  out += ' ';
  out += std::to_string(value.size());
  out += '\n';
  out += value;
  out += '\n';
}

template <typename Int>
bool parse_int(std::string_view s, Int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Reads "key len\n<value>\n" at `pos`. Returns false if incomplete or malformed;
// `incomplete` tells which.
struct Record {
  std::string_view key;
  std::uint64_t value_offset = 0;
  std::uint64_t value_size = 0;
};
enum class Parse { ok, incomplete, malformed };

Parse read_record_header(std::string_view buf, std::size_t& pos, Record& rec) {
  auto nl = buf.find('\n', pos);
  if (nl == std::string_view::npos) return buf.size() - pos > 64 ? Parse::malformed : Parse::incomplete;
  std::string_view line = buf.substr(pos, nl - pos);
  auto sp = line.find(' ');
  if (sp == std::string_view::npos || sp == 0) return Parse::malformed;
  rec.key = line.substr(0, sp);
  if (!parse_int(line.substr(sp + 1), rec.value_size)) return Parse::malformed;
  rec.value_offset = nl + 1;
  pos = nl + 1;
  return Parse::ok;
}

enum class HeadResult { ok, incomplete, malformed };

HeadResult parse_head(std::string_view head, DecodedMessageFile& out) {
  if (head.size() < msg_magic.size()) return HeadResult::incomplete;
  if (head.substr(0, msg_magic.size()) != msg_magic) return HeadResult::malformed;
  std::size_t pos = msg_magic.size();
  bool have_id = false;
  for (;;) {
    Record rec;
    switch (read_record_header(head, pos, rec)) {
      case Parse::incomplete: return HeadResult::incomplete;
      case Parse::malformed: return HeadResult::malformed;
      case Parse::ok: break;
    }
    if (rec.key == "message") {
      if (!have_id) return HeadResult::malformed;
      out.message_offset = rec.value_offset;
      out.message_size = rec.value_size;
      return HeadResult::ok;
    }
    if (rec.value_size > head_limit) return HeadResult::malformed;
    if (head.size() < rec.value_offset + rec.value_size + 1) return HeadResult::incomplete;
    std::string_view value = head.substr(rec.value_offset, rec.value_size);
    if (head[rec.value_offset + rec.value_size] != '\n') return HeadResult::malformed;
    pos = rec.value_offset + rec.value_size + 1;
    auto& e = out.envelope;
    if (rec.key == "id") {
      out.id = std::string(value);
      have_id = true;
    } else if (rec.key == "reverse_path") e.reverse_path = value;
    else if (rec.key == "rcpt") e.recipients.emplace_back(value);
    else if (rec.key == "client_address") e.client_address = value;
    else if (rec.key == "client_helo") e.client_helo = value;
    else if (rec.key == "auth_identity") e.auth_identity = value;
    else if (rec.key == "auth_param") e.auth_param = value;
    else if (rec.key == "body_type") e.body_type = value;
    else if (rec.key == "smtputf8") e.smtputf8 = value == "1";
    else if (rec.key == "aliases_expanded") e.aliases_expanded = value == "1";
    else if (rec.key == "any_sender") e.any_sender = value == "1";
    else if (rec.key == "received_at") {
      std::int64_t us = 0;
      if (!parse_int(value, us)) return HeadResult::malformed;
      e.received_at = from_micros(us);
    }
    // Unknown keys are skipped: a newer writer may add fields.
  }
}

// The END record: "END <offset of this record>\n" as the file's last line.
bool check_trailer(const DecodedMessageFile& d, std::uint64_t file_size, std::string_view tail) {
  std::uint64_t end_offset = d.message_offset + d.message_size + 1;
  std::string want = "END " + std::to_string(end_offset) + "\n";
  if (file_size != end_offset + want.size()) return false;
  if (tail.size() < want.size() + 1) return false;
  // The byte before END is the newline that closes the message record.
  return tail.substr(tail.size() - want.size()) == want && tail[tail.size() - want.size() - 1] == '\n';
}

std::optional<RecipientStatus> parse_status(std::string_view s) {
  if (s == "pending") return RecipientStatus::pending;
  if (s == "deferred") return RecipientStatus::deferred;
  if (s == "delivered") return RecipientStatus::delivered;
  if (s == "bounced") return RecipientStatus::bounced;
  return std::nullopt;
}

std::vector<RecipientState> initial_states(const Envelope& envelope) {
  std::vector<RecipientState> out;
  out.reserve(envelope.recipients.size());
  for (const auto& r : envelope.recipients) {
    RecipientState s;
    s.address = r;
    out.push_back(std::move(s));
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Reads up to `n` bytes at `offset`.
std::string pread_some(int fd, std::uint64_t offset, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

}  // namespace

std::string_view to_string(RecipientStatus status) {
  switch (status) {
    case RecipientStatus::pending: return "pending";
    case RecipientStatus::deferred: return "deferred";
    case RecipientStatus::delivered: return "delivered";
    case RecipientStatus::bounced: return "bounced";
  }
  return "pending";
}

namespace {

// Everything before the message record's value: magic and envelope records.
std::string encode_envelope_records(std::string_view id, const Envelope& e, std::size_t reserve) {
  std::string out;
  out.reserve(reserve + 512 + e.recipients.size() * 64);
  out += msg_magic;
  add_record(out, "id", id);
  add_record(out, "received_at", std::to_string(to_micros(e.received_at)));
  add_record(out, "reverse_path", e.reverse_path);
  add_record(out, "client_address", e.client_address);
  add_record(out, "client_helo", e.client_helo);
  add_record(out, "auth_identity", e.auth_identity);
  add_record(out, "auth_param", e.auth_param);
  add_record(out, "body_type", e.body_type);
  add_record(out, "smtputf8", e.smtputf8 ? "1" : "0");
  if (e.aliases_expanded) add_record(out, "aliases_expanded", "1");
  if (e.any_sender) add_record(out, "any_sender", "1");
  for (const auto& r : e.recipients) add_record(out, "rcpt", r);
  return out;
}

// A streamed message's length is not known when its record starts: the
// header line carries a fixed-width, zero-padded field, filled in at the end
// (readers parse leading zeros like any decimal).
constexpr std::size_t length_digits = 20;

}  // namespace

std::string encode_message_file(std::string_view id, const Envelope& e, std::string_view message) {
  std::string out = encode_envelope_records(id, e, message.size());
  add_record(out, "message", message);
  out += "END " + std::to_string(out.size()) + "\n";
  return out;
}

std::optional<DecodedMessageFile> decode_message_file(std::string_view head, std::uint64_t file_size,
                                                      std::string_view tail) {
  DecodedMessageFile d;
  if (parse_head(head, d) != HeadResult::ok) return std::nullopt;
  if (!check_trailer(d, file_size, tail)) return std::nullopt;
  return d;
}

std::string encode_state_file(const std::vector<RecipientState>& states) {
  std::string out(state_magic);
  for (std::size_t i = 0; i < states.size(); ++i) {
    const auto& s = states[i];
    out += "rcpt " + std::to_string(i) + ' ' + std::string(to_string(s.status)) + ' ' + std::to_string(s.attempts) +
           ' ' + std::to_string(to_micros(s.last_attempt)) + ' ' + std::to_string(to_micros(s.next_attempt)) + ' ' +
           std::to_string(s.address.size()) + ' ' + std::to_string(s.last_reply.size()) + ' ' +
           (s.delay_warned ? '1' : '0') + '\n';
    out += s.address;
    out += s.last_reply;
    out += '\n';
  }
  out += "END " + std::to_string(out.size()) + "\n";
  return out;
}

std::optional<std::vector<RecipientState>> decode_state_file(std::string_view bytes) {
  if (bytes.substr(0, state_magic.size()) != state_magic) return std::nullopt;
  std::size_t pos = state_magic.size();
  std::vector<RecipientState> out;
  for (;;) {
    auto nl = bytes.find('\n', pos);
    if (nl == std::string_view::npos) return std::nullopt;
    std::string_view line = bytes.substr(pos, nl - pos);
    if (line.substr(0, 4) == "END ") {
      std::uint64_t offset = 0;
      if (!parse_int(line.substr(4), offset) || offset != pos || nl + 1 != bytes.size()) return std::nullopt;
      return out;
    }
    // rcpt <index> <status> <attempts> <last_us> <next_us> <addrlen> <replylen> [<delay_warned>]
    // (files written before delay warnings have no last field)
    std::vector<std::string_view> f;
    for (std::size_t a = 0; a <= line.size();) {
      auto b = line.find(' ', a);
      if (b == std::string_view::npos) b = line.size();
      f.push_back(line.substr(a, b - a));
      a = b + 1;
    }
    if ((f.size() != 8 && f.size() != 9) || f[0] != "rcpt") return std::nullopt;
    if (f.size() == 9 && f[8] != "0" && f[8] != "1") return std::nullopt;
    std::size_t index = 0, alen = 0, rlen = 0;
    std::int64_t last = 0, next = 0;
    RecipientState s;
    auto status = parse_status(f[2]);
    if (!parse_int(f[1], index) || index != out.size() || !status || !parse_int(f[3], s.attempts) ||
        !parse_int(f[4], last) || !parse_int(f[5], next) || !parse_int(f[6], alen) || !parse_int(f[7], rlen))
      return std::nullopt;
    std::size_t start = nl + 1;
    if (alen > bytes.size() || rlen > bytes.size() || start + alen + rlen + 1 > bytes.size() ||
        bytes[start + alen + rlen] != '\n')
      return std::nullopt;
    s.status = *status;
    s.delay_warned = f.size() == 9 && f[8] == "1";
    s.last_attempt = from_micros(last);
    s.next_attempt = from_micros(next);
    s.address = std::string(bytes.substr(start, alen));
    s.last_reply = std::string(bytes.substr(start + alen, rlen));
    out.push_back(std::move(s));
    pos = start + alen + rlen + 1;
  }
}

Spool::Spool(std::filesystem::path dir) : dir_(std::move(dir)) {
  // Durably: a spool/ whose own name is not on disk takes every message in it along.
  create_directories_durably(dir_);
  ::chmod(dir_.c_str(), 0700);
}

bool Spool::valid_id(std::string_view id) {
  if (id.size() != 16) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::filesystem::path Spool::msg_path(std::string_view id) const { return dir_ / (std::string(id) + ".msg"); }
std::filesystem::path Spool::state_path(std::string_view id) const { return dir_ / (std::string(id) + ".state"); }

std::mutex& Spool::entry_mutex(std::string_view id) {
  return entry_mutexes_[std::hash<std::string_view>{}(id) % stripes];
}

namespace {

// A bijection of 32-bit numbers keyed with random bits: distinct counters
// give distinct outputs, in no visible order.
std::uint32_t scramble(std::uint32_t x, std::uint32_t key) {
  x ^= key;
  x *= 0x9e3779b1u;
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  return x;
}

}  // namespace

// Eight random hex digits per id made two ids of one second alike once in
// 2^32 pairs: about ten times a day at 1,000 messages a second, and the
// second message got a 451 (its id, chosen before, is in its Received:). A counter through a keyed bijection never repeats
// within the process; another process (sendmail, `postern send`) starts
// elsewhere at random, and put() without a chosen id tries again anyway.
std::string Spool::new_id() {
  static const std::uint32_t key = util::random_u32();
  static std::atomic<std::uint32_t> next{util::random_u32()};
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  char id[17];
  std::snprintf(id, sizeof id, "%08llx%08x", static_cast<unsigned long long>(seconds) & 0xffffffffull,
                static_cast<unsigned>(scramble(next.fetch_add(1, std::memory_order_relaxed), key)));
  return id;
}

std::string Spool::put(const Envelope& envelope, std::string_view message) { return put(envelope, message, {}); }

std::string Spool::put(const Envelope& envelope, std::string_view message, std::string_view chosen_id) {
  for (int attempt = 0;; ++attempt) {
    // The id is written inside the file, so a (rare) collision means writing it again.
    Writer writer(*this, envelope, chosen_id.empty() ? new_id() : std::string(chosen_id));
    writer.append(message);
    try {
      return writer.commit();
    } catch (const IoError& e) {
      if (e.code().value() != EEXIST || attempt >= 8 || !chosen_id.empty()) throw;
    }
  }
}

Spool::Writer::Writer(Spool& spool, const Envelope& envelope, std::string id) : spool_(spool), id_(std::move(id)) {
  if (envelope.recipients.empty()) throw std::invalid_argument("spool: message without recipients");
  if (!valid_id(id_)) throw std::invalid_argument("spool: malformed queue id");
  tmp_ = spool_.dir_ / ("." + util::random_hex(8) + ".tmp");
  int fd = syscalls().open(tmp_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError(errno, "create " + tmp_.string());
  fd_ = Fd(fd);
  std::string head = encode_envelope_records(id_, envelope, 0);
  head += "message ";
  length_offset_ = head.size();
  head += std::string(length_digits, '0');
  head += '\n';
  message_offset_ = head.size();
  try {
    write_all(fd_.get(), head, tmp_);
  } catch (...) {
    discard();
    throw;
  }
}

Spool::Writer::~Writer() { discard(); }

void Spool::Writer::discard() {
  if (!fd_) return;
  fd_.reset();
  ::unlink(tmp_.c_str());
}

void Spool::Writer::append(std::string_view bytes) {
  if (!fd_) throw IoError(EBADF, "append to a closed spool file");
  try {
    write_all(fd_.get(), bytes, tmp_);
  } catch (...) {
    discard();  // nothing half-written survives, and the space is free again
    throw;
  }
  size_ += bytes.size();
}

std::string Spool::Writer::read(std::uint64_t offset, std::size_t max) const {
  if (!fd_) throw IoError(EBADF, "read of a closed spool file");
  if (offset >= size_) return {};
  std::string out(static_cast<std::size_t>(std::min<std::uint64_t>(max, size_ - offset)), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                        static_cast<off_t>(message_offset_ + offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IoError(n < 0 ? errno : EIO, "read " + tmp_.string());
    done += static_cast<std::size_t>(n);
  }
  return out;
}

void Spool::Writer::prepend(std::string_view bytes) {
  if (!fd_) throw IoError(EBADF, "prepend to a closed spool file");
  const auto tmp = spool_.dir_ / ("." + util::random_hex(8) + ".tmp");
  int fd = syscalls().open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    discard();
    throw IoError(err, "create " + tmp.string());
  }
  Fd copy(fd);
  auto copy_range = [&](std::uint64_t from, std::uint64_t length) {
    std::string buffer(64 * 1024, '\0');
    while (length > 0) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size()));
      const ssize_t n = ::pread(fd_.get(), buffer.data(), want, static_cast<off_t>(from));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw IoError(n < 0 ? errno : EIO, "read " + tmp_.string());
      write_all(copy.get(), std::string_view(buffer.data(), static_cast<std::size_t>(n)), tmp);
      from += static_cast<std::uint64_t>(n);
      length -= static_cast<std::uint64_t>(n);
    }
  };
  try {
    copy_range(0, message_offset_);
    write_all(copy.get(), bytes, tmp);
    copy_range(message_offset_, size_);
  } catch (...) {
    copy.reset();
    ::unlink(tmp.c_str());
    discard();
    throw;
  }
  discard();
  fd_ = std::move(copy);
  tmp_ = tmp;
  size_ += bytes.size();
}

std::string Spool::Writer::commit() {
  if (!fd_) throw IoError(EBADF, "commit of a closed spool file");
  try {
    char digits[length_digits + 1];
    std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(size_));
    for (std::size_t done = 0; done < length_digits;) {
      ssize_t n = ::pwrite(fd_.get(), digits + done, length_digits - done, static_cast<off_t>(length_offset_ + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw IoError(n < 0 ? errno : EIO, "write " + tmp_.string());
      done += static_cast<std::size_t>(n);
    }
    write_all(fd_.get(), "\nEND " + std::to_string(message_offset_ + size_ + 1) + "\n", tmp_);
    fsync_fd(fd_.get(), tmp_);
  } catch (...) {
    discard();
    throw;
  }
  fd_.reset();
  const auto target = spool_.msg_path(id_);
  // link() refuses an existing name: once it succeeds the id is ours alone.
  const int rc = syscalls().link(tmp_.c_str(), target.c_str());
  const int err = errno;
  ::unlink(tmp_.c_str());
  if (rc != 0) throw IoError(err, "link " + target.string());
  try {
    spool_.sync_dir_grouped();
  } catch (...) {
    // Not known to be durable: take it back, so no 250 is given for it
    // and no copy is delivered after the client was told 451.
    ::unlink(target.c_str());
    throw;
  }
  return id_;
}

void Spool::sync_dir_grouped() {
  std::unique_lock lock(sync_mutex_);
  // We need a directory fsync that STARTS after our link: the next one.
  const std::uint64_t need = sync_started_ + 1;
  while (sync_completed_ < need) {
    if (!sync_running_) {
      sync_running_ = true;
      const std::uint64_t gen = ++sync_started_;
      lock.unlock();
      int err = 0;
      try {
        fsync_dir(dir_);
      } catch (const IoError& e) {
        err = e.code().value();
      }
      lock.lock();
      sync_running_ = false;
      sync_completed_ = gen;
      sync_last_errno_ = err;
      sync_cv_.notify_all();
    } else {
      sync_cv_.wait(lock);
    }
  }
  // The latest completed fsync started after our link; if it failed, so do we
  // (conservative: an earlier success at or after `need` would also cover us).
  if (sync_last_errno_ != 0) throw IoError(sync_last_errno_, "fsync " + dir_.string());
}

std::uint64_t Spool::dir_syncs() const {
  std::lock_guard lock(sync_mutex_);
  return sync_completed_;
}

std::vector<std::string> Spool::list() const {
  std::vector<std::string> ids;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) throw IoError(errno, "opendir " + dir_.string());
  while (auto* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    if (!ends_with(name, ".msg")) continue;
    auto id = name.substr(0, name.size() - 4);
    if (valid_id(id)) ids.emplace_back(id);
  }
  ::closedir(d);
  std::vector<std::pair<std::int64_t, std::string>> found;
  for (auto& id : ids) {
    auto e = load(id);
    if (e) found.emplace_back(to_micros(e->envelope.received_at), std::move(id));
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

namespace {

// A .state file, read with as few calls as a small file needs (the queue
// reads one per attempt): false when there is none. A read shorter than
// asked is the end of a regular file; a damaged or cut one fails to decode.
bool read_state_file(const std::filesystem::path& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    throw IoError(errno, "open " + path.string());
  }
  Fd guard(fd);
  out.clear();
  std::size_t want = 4096;
  for (;;) {
    const std::size_t at = out.size();
    out.resize(at + want);
    const ssize_t n = ::read(fd, out.data() + at, want);
    if (n < 0 && errno == EINTR) {
      out.resize(at);
      continue;
    }
    if (n < 0) throw IoError(errno, "read " + path.string());
    out.resize(at + static_cast<std::size_t>(n));
    if (static_cast<std::size_t>(n) < want) return true;
    want *= 2;
  }
}

// An open .msg file with its decoded envelope and offsets; nullopt when
// absent, incomplete or not the entry `id` says.
struct OpenEntry {
  Fd fd;
  DecodedMessageFile decoded;
};

std::optional<OpenEntry> open_entry(const std::filesystem::path& path, std::string_view id) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw IoError(errno, "open " + path.string());
  }
  OpenEntry e{Fd(fd), {}};
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw IoError(errno, "stat " + path.string());
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::string head;
  for (std::size_t want = 16 * 1024;; want *= 4) {
    head = pread_some(fd, 0, static_cast<std::size_t>(std::min<std::uint64_t>(want, size)));
    e.decoded = DecodedMessageFile{};
    auto r = parse_head(head, e.decoded);
    if (r == HeadResult::ok) break;
    if (r == HeadResult::malformed || head.size() >= size || want > head_limit) return std::nullopt;
  }
  // A small file was read whole: its tail is in hand already.
  const std::size_t tail_n = 64;
  std::string tail = head.size() == size ? std::move(head)
                                         : pread_some(fd, size > tail_n ? size - tail_n : 0,
                                                      static_cast<std::size_t>(std::min<std::uint64_t>(tail_n, size)));
  if (!check_trailer(e.decoded, size, tail) || e.decoded.id != id) return std::nullopt;
  return e;
}

}  // namespace

std::optional<SpoolEntry> Spool::load(std::string_view id) const {
  if (!valid_id(id)) return std::nullopt;
  auto open = open_entry(msg_path(id), id);
  if (!open) return std::nullopt;
  auto& d = open->decoded;
  SpoolEntry entry;
  entry.id = d.id;
  entry.message_size = d.message_size;
  entry.envelope = std::move(d.envelope);
  auto states = read_states(id, entry.envelope);
  entry.recipients = states ? std::move(*states) : initial_states(entry.envelope);
  return entry;
}

std::optional<std::vector<RecipientState>> Spool::read_states(std::string_view id, const Envelope& envelope) const {
  std::string bytes;
  if (!read_state_file(state_path(id), bytes)) return std::nullopt;
  auto states = decode_state_file(bytes);
  // A state file that does not match its message is ignored: every
  // recipient counts as pending again (a possible duplicate, never a loss).
  if (!states || states->size() != envelope.recipients.size()) return std::nullopt;
  for (std::size_t i = 0; i < states->size(); ++i)
    if ((*states)[i].address != envelope.recipients[i]) return std::nullopt;
  return states;
}

std::optional<std::string> Spool::message(std::string_view id) const {
  if (!valid_id(id)) return std::nullopt;
  auto open = open_entry(msg_path(id), id);
  if (!open) return std::nullopt;
  // Only the message range is read: one copy of it in memory, not two.
  const auto& d = open->decoded;
  std::string bytes = pread_some(open->fd.get(), d.message_offset, static_cast<std::size_t>(d.message_size));
  if (bytes.size() != d.message_size) return std::nullopt;
  return bytes;
}

std::optional<std::pair<SpoolEntry, std::string>> Spool::load_with_message(std::string_view id, bool states) const {
  if (!valid_id(id)) return std::nullopt;
  const auto path = msg_path(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw IoError(errno, "open " + path.string());
  }
  Fd guard(fd);
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw IoError(errno, "stat " + path.string());
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::optional<DecodedMessageFile> decoded;
  std::string message;
  if (size <= whole_read_limit) {
    // Small (most mail): the whole file in one read, the message cut out of it.
    const std::string file = pread_some(fd, 0, static_cast<std::size_t>(size));
    if (file.size() != size) return std::nullopt;
    decoded = decode_message_file(file, size, file);
    if (!decoded) return std::nullopt;
    message = file.substr(static_cast<std::size_t>(decoded->message_offset),
                          static_cast<std::size_t>(decoded->message_size));
  } else {
    guard.reset();
    auto entry = load(id);  // the states too: rare enough
    auto bytes = entry ? this->message(id) : std::nullopt;
    if (!bytes) return std::nullopt;
    return std::make_pair(std::move(*entry), std::move(*bytes));
  }
  if (decoded->id != id) return std::nullopt;
  SpoolEntry entry;
  entry.id = decoded->id;
  entry.message_size = decoded->message_size;
  entry.envelope = std::move(decoded->envelope);
  auto stored = states ? read_states(id, entry.envelope) : std::nullopt;
  entry.recipients = stored ? std::move(*stored) : initial_states(entry.envelope);
  return std::make_pair(std::move(entry), std::move(message));
}

std::optional<std::vector<RecipientState>> Spool::update(
    std::string_view id, const std::function<void(std::vector<RecipientState>&)>& change) {
  std::lock_guard lock(entry_mutex(id));
  auto entry = load(id);
  if (!entry) return std::nullopt;
  bool removed = false;
  return apply(id, std::move(entry->recipients), change, true, removed);
}

std::optional<std::vector<RecipientState>> Spool::update_unsynced(
    const SpoolEntry& entry, const std::function<void(std::vector<RecipientState>&)>& change, bool& removed) {
  removed = false;
  const std::string_view id = entry.id;
  if (!valid_id(id)) return std::nullopt;
  std::lock_guard lock(entry_mutex(id));
  auto states = read_states(id, entry.envelope);
  // No states of its own: every recipient pending, or deleted meanwhile
  // (`postern queue delete` runs in another process, without this lock).
  struct stat st{};
  if (!states && ::stat(msg_path(id).c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw IoError(errno, "stat " + msg_path(id).string());
  }
  return apply(id, states ? std::move(*states) : initial_states(entry.envelope), change, false, removed);
}

std::optional<std::vector<RecipientState>> Spool::apply(std::string_view id, std::vector<RecipientState> states,
                                                        const std::function<void(std::vector<RecipientState>&)>& change,
                                                        bool sync, bool& removed) {
  const auto addresses = states;
  change(states);
  if (states.size() != addresses.size()) throw std::logic_error("spool update changed the recipient count");
  for (std::size_t i = 0; i < states.size(); ++i) states[i].address = addresses[i].address;
  const bool all_delivered = std::all_of(states.begin(), states.end(),
                                         [](const RecipientState& s) { return s.status == RecipientStatus::delivered; });
  if (all_delivered) {
    // Message first: see remove(). Synced (here, or by the caller's
    // sync_removals()), so a crash cannot bring the entry back to deliver
    // or report it again.
    ::unlink(msg_path(id).c_str());
    ::unlink(state_path(id).c_str());
    removed = true;
    if (sync) sync_dir_grouped();
    return states;
  }
  write_durably(state_path(id), encode_state_file(states));
  return states;
}

void Spool::remove(std::string_view id) {
  if (!valid_id(id)) return;
  {
    std::lock_guard lock(entry_mutex(id));
    ::unlink(msg_path(id).c_str());
    ::unlink(state_path(id).c_str());
  }
  sync_dir_grouped();
}

std::size_t Spool::recover() {
  std::size_t removed = 0;
  std::vector<std::string> names;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) throw IoError(errno, "opendir " + dir_.string());
  while (auto* ent = ::readdir(d)) names.emplace_back(ent->d_name);
  ::closedir(d);
  for (const auto& name : names) {
    std::string_view n = name;
    bool drop = false;
    if (n == "." || n == "..") continue;
    if (n.front() == '.' && ends_with(n, ".tmp")) drop = true;
    else if (ends_with(n, ".msg")) drop = valid_id(n.substr(0, n.size() - 4)) && !load(n.substr(0, n.size() - 4));
    else if (ends_with(n, ".state")) {
      auto id = n.substr(0, n.size() - 6);
      struct stat st{};
      drop = valid_id(id) && ::stat(msg_path(id).c_str(), &st) != 0 && errno == ENOENT;
    }
    if (drop && ::unlink((dir_ / name).c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace postern::store
