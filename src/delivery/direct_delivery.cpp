#include "delivery/direct_delivery.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>

#include "log/log.hpp"
#include "delivery/mailbox_sync.hpp"
#include "delivery/maildir.hpp"
#include "delivery/staged_file.hpp"
#include "delivery/sync_mode.hpp"

namespace postern::delivery {
using namespace store;  // the durable-file primitives and the spool this layer builds on
namespace fs = std::filesystem;

DirectDelivery::DirectDelivery(fs::path journal_dir, std::size_t max_unconfirmed)
    : journal_(std::move(journal_dir)), max_unconfirmed_(max_unconfirmed) {}

DirectDelivery::~DirectDelivery() { stop(); }

void DirectDelivery::no_unnamed_files(const fs::path& mailbox) {
  std::lock_guard lock(mailboxes_mutex_);
  auto it = mailboxes_.find(mailbox.string());  // (another thread may have dropped it: then it is looked at afresh)
  if (it != mailboxes_.end()) it->second.unnamed = false;
}

DirectDelivery::Mailbox DirectDelivery::ensure_mailbox(const fs::path& mailbox) {
  {
    std::lock_guard lock(mailboxes_mutex_);
    auto it = mailboxes_.find(mailbox.string());
    if (it != mailboxes_.end()) return it->second;
  }
  ensure_maildir(mailbox);
  struct stat st{};
  if (::stat(mailbox.c_str(), &st) != 0) throw IoError(errno, "stat " + mailbox.string());
  std::lock_guard lock(mailboxes_mutex_);
  auto mode = modes_.find(st.st_dev);
  if (mode == modes_.end()) {
    // First sight of this file system: the mode for it, and a handle for syncfs.
    const auto kind = file_system_of(mailbox).value_or(FileSystemKind{"unknown", true});
    const SyncMode chosen = sync_mode_for(policy_, kind);
    if (chosen == SyncMode::syncfs) {
      int fd = ::open(mailbox.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) throw IoError(errno, "open " + mailbox.string());
      sync_fds_.emplace(st.st_dev, Fd(fd));
    }
    mode = modes_.emplace(st.st_dev, chosen).first;
    log::Event("sync_mode")
        .add("mailbox", mailbox.string())
        .add("fs", kind.name)
        .add("mode", std::string(to_string(chosen)));
  }
  const Mailbox m{st.st_dev, mode->second};
  mailboxes_.emplace(mailbox.string(), m);
  return m;
}

bool DirectDelivery::deliver(const std::string& id, const Envelope& envelope, std::string_view head,
                             std::string_view message, const std::vector<Target>& targets) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false, delivered = false;
  deliver_async(id, envelope, std::string(head), message, targets, [&](bool ok) {
    std::lock_guard lock(m);
    delivered = ok;
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done; });
  return delivered;
}

// A message between its files' writing and its journal flush.
struct DirectDelivery::InFlight {
  std::string id;
  const Envelope* envelope = nullptr;
  std::string head;
  std::string_view message;
  std::vector<Target> targets;
  std::vector<StagedFile> staged;
  std::vector<dev_t> devices;      // in mailboxes synced with syncfs
  std::vector<MailboxFile> files;  // in mailboxes synced file by file
  Done done;
  bool counted = false;                // in in_flight_
  std::atomic<bool> finished{false};  // done was called
};

void DirectDelivery::deliver_async(const std::string& id, const Envelope& envelope, std::string head,
                                   std::string_view message, const std::vector<Target>& targets, Done done) {
  auto m = std::make_shared<InFlight>();
  m->id = id;
  m->envelope = &envelope;
  m->head = std::move(head);
  m->message = message;
  m->targets = targets;
  m->done = std::move(done);
  const std::size_t size = m->head.size() + message.size();
  try {
    for (const auto& t : targets) {
      Mailbox box;
      try {
        box = ensure_mailbox(t.mailbox);
        const std::string name = maildir_fixed_name(envelope, id, t.recipient, size);
        bool unnamed = box.unnamed;
        m->staged.push_back(StagedFile::write(t.mailbox, name, m->head, message, unnamed));
        if (unnamed != box.unnamed) no_unnamed_files(t.mailbox);
        if (box.mode == SyncMode::fsync) m->files.push_back({t.mailbox, name});
      } catch (...) {
        // Look at the mailbox afresh next time (it may have been removed).
        std::lock_guard lock(mailboxes_mutex_);
        mailboxes_.erase(t.mailbox.string());
        throw;
      }
      if (box.mode == SyncMode::syncfs && std::find(m->devices.begin(), m->devices.end(), box.device) == m->devices.end())
        m->devices.push_back(box.device);
    }
    {
      std::unique_lock lock(mutex_);
      room_cv_.wait(lock,
                    [&] { return stopping_ || pending_.size() + confirming_ + in_flight_ < max_unconfirmed_; });
      ++in_flight_;
      m->counted = true;
    }
  } catch (const std::exception& e) {
    m->staged.clear();  // nothing of it stays in any mailbox
    log::Event("direct_delivery_failed").add("queue_id", id).add("error", e.what());
    finish(*m, false);
    return;
  }
  try {
    journal_.append_async(id, envelope, message, [this, m](int error) { durable(*m, error); });
  } catch (const std::exception& e) {  // (encoding: out of memory; nothing was queued)
    m->staged.clear();
    log::Event("direct_delivery_failed").add("queue_id", id).add("error", e.what());
    finish(*m, false);
  }
}

void DirectDelivery::finish(InFlight& m, bool delivered) {
  if (m.finished.exchange(true)) return;
  if (m.counted) {
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
    }
    room_cv_.notify_all();
  }
  m.done(delivered);
}

void DirectDelivery::durable(InFlight& m, int error) {
  if (error) {
    m.staged.clear();
    log::Event("direct_delivery_failed")
        .add("queue_id", m.id)
        .add("error", "journal: " + std::error_code(error, std::generic_category()).message());
    finish(m, false);
    return;
  }
  for (std::size_t i = 0; i < m.staged.size(); ++i) {
    try {
      m.staged[i].publish();
    } catch (const std::exception& e) {
      // Durable in the journal already: finish it the way a restart would.
      log::Event("direct_delivery_repair").add("queue_id", m.id).add("error", e.what());
      if (m.staged[i].unnamed()) no_unnamed_files(m.targets[i].mailbox);  // e.g. no /proc to link through
      try {
        const auto& t = m.targets[i];
        maildir_deliver_once(t.mailbox, maildir_fixed_prefix(*m.envelope, m.id, t.recipient),
                             m.staged[i].final_path().filename().string(), m.head, m.message);
      } catch (const std::exception& e2) {
        // Kept in the journal: the next start-up completes it.
        log::Event("direct_delivery_kept").add("queue_id", m.id).add("error", e2.what());
        m.staged.clear();
        finish(m, true);
        return;
      }
    }
  }
  m.staged.clear();
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    pending_.push_back({m.id, std::move(m.devices), std::move(m.files)});
    wake = pending_.size() == 1 || pending_.size() == round_batch;
  }
  if (wake) pending_cv_.notify_one();
  finish(m, true);
}

DirectDelivery::Recovered DirectDelivery::recover(const Resolve& resolve, const Head& head, const Leftover& leftover) {
  Recovered r;
  auto entries = journal_.recover();
  std::unordered_map<std::string, MaildirListing> listings;
  std::vector<std::string> done;
  for (const auto& e : entries) {
    try {
      const auto [targets, rest] = resolve(e.envelope);
      if (!rest.empty()) leftover(e, rest);
      const std::string h = head(e.envelope, e.message);
      const std::size_t size = h.size() + e.message.size();
      for (const auto& t : targets) {
        auto [it, fresh] = listings.try_emplace(t.mailbox.string());
        if (fresh) it->second = maildir_list(t.mailbox);
        if (maildir_deliver_once(t.mailbox, maildir_fixed_prefix(e.envelope, e.id, t.recipient),
                                 maildir_fixed_name(e.envelope, e.id, t.recipient, size), h, e.message,
                                 &it->second) == Placed::written)
          ++r.rewritten;
      }
      done.push_back(e.id);
      ++r.messages;
    } catch (const std::exception& ex) {
      log::Event("journal_recover_error").add("queue_id", e.id).add("error", ex.what());
    }
  }
  journal_.retire(done);
  return r;
}

void DirectDelivery::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void DirectDelivery::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  pending_cv_.notify_all();
  room_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    journal_.close();
  }
}

bool DirectDelivery::confirm(std::vector<Pending>& batch) {
  std::set<dev_t> devices;
  std::vector<MailboxFile> files;
  for (auto& p : batch) {
    devices.insert(p.devices.begin(), p.devices.end());
    files.insert(files.end(), p.files.begin(), p.files.end());
  }
  if (!files.empty()) {
    try {
      sync_mailbox_files(files);
    } catch (const IoError& e) {
      log::Event("mailbox_sync_failed").add("error", e.what());
      return false;
    }
  }
  for (auto dev : devices) {
    int fd = -1;
    {
      std::lock_guard lock(mailboxes_mutex_);
      auto it = sync_fds_.find(dev);
      if (it != sync_fds_.end()) fd = it->second.get();
    }
    if (fd < 0) {
      log::Event("syncfs_failed").add("error", "no handle for the file system");
      return false;
    }
    if (::syncfs(fd) != 0) {
      log::Event("syncfs_failed").add("error", std::error_code(errno, std::generic_category()).message());
      return false;
    }
  }
  std::vector<std::string> ids;
  ids.reserve(batch.size());
  for (auto& p : batch) ids.push_back(std::move(p.id));
  journal_.retire(ids);
  return true;
}

void DirectDelivery::run() {
  constexpr auto round_gap = std::chrono::milliseconds(20);
  auto last_round = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  for (;;) {
    pending_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) break;  // stopping, nothing left
    // Batch: a round costs little more for hundreds of files than for one, and
    // each one competes with the journal's flushes for the disk.
    pending_cv_.wait_until(lock, last_round + round_gap,
                           [&] { return stopping_ || pending_.size() >= round_batch; });
    std::vector<Pending> batch;
    batch.swap(pending_);
    confirming_ = batch.size();
    lock.unlock();
    const bool ok = confirm(batch);
    lock.lock();
    last_round = std::chrono::steady_clock::now();
    confirming_ = 0;
    ++rounds_;
    if (!ok) {
      // Not tried again: after a failed writeback the kernel may report the
      // error once and then call the same pages synced. The journal keeps
      // these messages; the next start-up checks and completes them.
      log::Event("journal_kept").add("messages", static_cast<long long>(batch.size()));
    }
    room_cv_.notify_all();
  }
}

std::size_t DirectDelivery::unconfirmed() const {
  std::lock_guard lock(mutex_);
  return pending_.size() + confirming_;
}

std::uint64_t DirectDelivery::sync_rounds() const {
  std::lock_guard lock(mutex_);
  return rounds_;
}

}  // namespace postern::delivery
