#include "store/local_delivery.hpp"

#include <algorithm>
#include <map>

#include "log/log.hpp"
#include "store/maildir.hpp"
#include "store/mbox.hpp"
#include "util/strings.hpp"

namespace postern::store {
namespace {

using Clock = std::chrono::system_clock;

constexpr std::string_view locked_reply = "450 4.2.1 Mailbox temporarily unavailable, try again later";

std::string return_path_header(std::string_view reverse_path, std::string_view message) {
  // Use the message's own line ending: CRLF as received over SMTP, or LF.
  auto nl = message.find('\n');
  bool crlf = nl == std::string_view::npos || (nl > 0 && message[nl - 1] == '\r');
  return "Return-Path: <" + std::string(reverse_path) + ">" + (crlf ? "\r\n" : "\n");
}

struct Outcome {
  RecipientStatus status = RecipientStatus::pending;
  std::string reply;
};

}  // namespace

LocalDelivery::LocalDelivery(std::shared_ptr<const config::Config> config, Spool& spool, UserDb* users)
    : config_(std::move(config)), spool_(spool), users_(users), direct_(spool.dir() / "journal") {}

LocalDelivery::~LocalDelivery() { stop(); }

std::shared_ptr<const config::Config> LocalDelivery::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

void LocalDelivery::reload(std::shared_ptr<const config::Config> config) {
  {
    std::lock_guard lock(config_mutex_);
    config_ = std::move(config);
  }
  // Recipients that were someone else's may be ours now: look again.
  try {
    for (auto& id : spool_.list()) submit(std::move(id));
  } catch (const std::exception& e) {
    log::Event("spool_scan_error").add("error", e.what());
  }
}

std::chrono::seconds LocalDelivery::retry_delay(unsigned attempts) {
  if (attempts == 0) attempts = 1;
  if (attempts > 7) return std::chrono::seconds(60);
  return std::min(std::chrono::seconds(1LL << (attempts - 1)), std::chrono::seconds(60));
}

bool LocalDelivery::is_local(std::string_view address) const { return config()->delivers_locally(address); }

std::optional<LocalDelivery::Target> LocalDelivery::resolve(const config::Config& config, std::string_view address) const {
  if (!config.delivers_locally(address)) return std::nullopt;
  const std::string addr = config.final_recipient(address);
  Target t;
  auto canonical = canonical_address(addr);
  if (!canonical) {
    t.bounce = "550 5.1.3 Bad recipient address syntax";
    return t;
  }
  if (users_) {
    try {
      auto user = users_->get(*canonical);
      if (!user) t.bounce = "550 5.1.1 No such user";
      else if (user->disabled) t.bounce = "550 5.2.1 Mailbox disabled";
    } catch (const std::exception& e) {
      t.defer = "451 4.3.0 User database unavailable";
    }
  }
  auto at = canonical->rfind('@');
  t.mailbox = config.mailbox_for(canonical->substr(0, at), canonical->substr(at + 1));
  return t;
}

std::vector<DirectDelivery::Target> LocalDelivery::direct_targets(const config::Config& cfg, const Envelope& envelope,
                                                                  std::vector<std::size_t>* elsewhere) const {
  std::vector<DirectDelivery::Target> targets;
  const bool maildir = cfg.mailbox_format == config::MailboxFormat::maildir;
  if (!maildir && !elsewhere) return targets;
  std::map<std::filesystem::path, bool> seen;  // one copy per mailbox, however many RCPTs name it
  for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
    auto target = resolve(cfg, envelope.recipients[i]);
    if (!maildir || !target || target->bounce || target->defer) {
      if (!elsewhere) return {};
      elsewhere->push_back(i);
      continue;
    }
    if (seen.emplace(target->mailbox, true).second) targets.push_back({target->mailbox, i});
  }
  return targets;
}

bool LocalDelivery::deliver_now(const std::string& id, const Envelope& envelope, std::string_view message) {
  const auto snapshot = config();
  auto targets = direct_targets(*snapshot, envelope);
  if (targets.empty()) return false;
  if (!direct_.deliver(id, envelope, return_path_header(envelope.reverse_path, message), message, targets))
    return false;
  for (const auto& r : envelope.recipients) {
    log::Event("delivery")
        .add("queue_id", id)
        .add("to", "<" + r + ">")
        .add("status", "delivered")
        .add("attempts", 1LL)
        .add("reply", "250 2.0.0 Delivered");
  }
  return true;
}

void LocalDelivery::recover_journal() {
  const auto snapshot = config();
  auto result = direct_.recover(
      [&](const Envelope& e) {
        DirectDelivery::Resolution r;
        r.targets = direct_targets(*snapshot, e, &r.elsewhere);
        return r;
      },
      [](const Envelope& e, std::string_view message) { return return_path_header(e.reverse_path, message); },
      [&](const Journal::Entry& entry, const std::vector<std::size_t>& rest) {
        // No longer a local Maildir (the configuration changed, the user
        // went): the spool takes these recipients, under the same id.
        Envelope e = entry.envelope;
        e.recipients.clear();
        for (auto i : rest) e.recipients.push_back(entry.envelope.recipients[i]);
        try {
          spool_.put(e, entry.message, entry.id);
        } catch (const IoError& err) {
          if (err.code().value() != EEXIST) throw;  // EEXIST: spooled before a crash
        }
      });
  if (result.messages)
    log::Event("journal_recover")
        .add("messages", static_cast<long long>(result.messages))
        .add("rewritten", static_cast<long long>(result.rewritten));
}

std::optional<Clock::time_point> LocalDelivery::deliver(std::string_view id) {
  const auto snapshot = config();
  const config::Config& cfg = *snapshot;
  auto entry = spool_.load(id);
  if (!entry) return std::nullopt;
  const auto now = Clock::now();
  std::optional<std::string> body;
  std::map<std::size_t, Outcome> outcomes;
  std::map<std::filesystem::path, Outcome> by_mailbox;  // one copy per mailbox, however many RCPTs name it
  std::optional<Clock::time_point> next_due;
  const auto note_due = [&](Clock::time_point t) { next_due = next_due ? std::min(*next_due, t) : t; };

  for (std::size_t i = 0; i < entry->recipients.size(); ++i) {
    const auto& r = entry->recipients[i];
    if (r.final()) continue;
    auto target = resolve(cfg, r.address);
    if (!target) continue;  // not ours: the outbound queue's
    if (r.status == RecipientStatus::deferred && r.next_attempt > now) {
      note_due(r.next_attempt);
      continue;
    }
    Outcome o;
    if (target->bounce) o = {RecipientStatus::bounced, *target->bounce};
    else if (target->defer) o = {RecipientStatus::deferred, *target->defer};
    else if (auto it = by_mailbox.find(target->mailbox); it != by_mailbox.end()) o = it->second;
    else {
      if (!body) {
        body = spool_.message(id);
        if (!body) return std::nullopt;  // removed meanwhile
      }
      const std::string header = return_path_header(entry->envelope.reverse_path, *body);
      try {
        if (cfg.mailbox_format == config::MailboxFormat::mbox) {
          auto res = mbox_deliver(target->mailbox, entry->envelope.reverse_path, header + *body,
                                  entry->envelope.received_at);
          o = res == MboxResult::delivered ? Outcome{RecipientStatus::delivered, "250 2.0.0 Delivered"}
                                           : Outcome{RecipientStatus::deferred, std::string(locked_reply)};
        } else {
          maildir_deliver(target->mailbox, header, *body);
          o = {RecipientStatus::delivered, "250 2.0.0 Delivered"};
        }
      } catch (const std::exception& e) {
        log::Event("delivery_error").add("queue_id", id).add("to", r.address).add("error", e.what());
        o = {RecipientStatus::deferred, "451 4.3.0 Local delivery failed, will retry"};
      }
      by_mailbox[target->mailbox] = o;
    }
    outcomes[i] = o;
  }
  if (outcomes.empty()) return next_due;

  auto states = spool_.update(id, [&](std::vector<RecipientState>& s) {
    for (const auto& [i, o] : outcomes) {
      auto& st = s[i];
      if (st.final()) continue;  // someone else finished it meanwhile
      st.attempts += 1;
      st.last_attempt = now;
      st.last_reply = o.reply;
      st.status = o.status;
      if (o.status == RecipientStatus::deferred) {
        if (now - entry->envelope.received_at >= cfg.queue.lifetime) {
          st.status = RecipientStatus::bounced;
          st.last_reply = "550 5.4.7 Delivery time expired; last error: " + o.reply;
        } else {
          st.next_attempt = now + retry_delay(st.attempts);
        }
      }
    }
  });
  if (!states) return std::nullopt;
  for (const auto& [i, o] : outcomes) {
    const auto& st = (*states)[i];
    log::Event ev("delivery");
    ev.add("queue_id", id).add("to", "<" + st.address + ">").add("status", to_string(st.status));
    ev.add("attempts", static_cast<long long>(st.attempts)).add("reply", st.last_reply);
    if (st.status == RecipientStatus::deferred) {
      note_due(st.next_attempt);
      ev.add("retry_in", static_cast<long long>(
                             std::chrono::duration_cast<std::chrono::seconds>(st.next_attempt - now).count()));
    }
  }
  return next_due;
}

void LocalDelivery::start(unsigned threads) {
  {
    std::lock_guard lock(mutex_);
    if (!threads_.empty()) return;
    stopping_ = false;
  }
  // Whatever the journal or the spool holds now was accepted earlier: deliver it.
  try {
    recover_journal();
  } catch (const std::exception& e) {
    log::Event("journal_recover_error").add("error", e.what());
  }
  direct_.start();
  try {
    for (auto& id : spool_.list()) submit(std::move(id));
  } catch (const std::exception& e) {
    log::Event("spool_scan_error").add("error", e.what());
  }
  std::lock_guard lock(mutex_);
  for (unsigned i = 0; i < std::max(1u, threads); ++i) threads_.emplace_back([this] { run(); });
}

void LocalDelivery::submit(std::string id) {
  {
    std::lock_guard lock(mutex_);
    ready_.push_back(std::move(id));
  }
  cv_.notify_one();
}

void LocalDelivery::stop() {
  direct_.stop();
  if (direct_.syncfs_rounds())
    log::Event("direct_delivery_stats")
        .add("journal_flushes", static_cast<long long>(direct_.journal().flushes()))
        .add("syncfs_rounds", static_cast<long long>(direct_.syncfs_rounds()))
        .add("live", static_cast<long long>(direct_.journal().live()));
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

bool LocalDelivery::idle() {
  std::lock_guard lock(mutex_);
  if (!ready_.empty() || !busy_.empty()) return false;
  return timed_.empty() || timed_.begin()->first > Clock::now() + std::chrono::hours(1);
}

void LocalDelivery::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    std::string id;
    const auto now = Clock::now();
    auto pick = [&]() -> bool {
      for (auto it = ready_.begin(); it != ready_.end(); ++it)
        if (!busy_.count(*it)) {
          id = std::move(*it);
          ready_.erase(it);
          return true;
        }
      for (auto it = timed_.begin(); it != timed_.end() && it->first <= now; ++it)
        if (!busy_.count(it->second)) {
          id = std::move(it->second);
          timed_.erase(it);
          return true;
        }
      return false;
    };
    if (!pick()) {
      // Wake for new work, the next due retry, or at least every second
      // (a busy entry may become free).
      auto until = now + std::chrono::seconds(1);
      if (!timed_.empty()) until = std::min(until, timed_.begin()->first);
      cv_.wait_until(lock, until);
      continue;
    }
    busy_.insert(id);
    lock.unlock();
    std::optional<Clock::time_point> next;
    try {
      next = deliver(id);
    } catch (const std::exception& e) {
      log::Event("delivery_error").add("queue_id", id).add("error", e.what());
      next = Clock::now() + std::chrono::seconds(30);
    }
    lock.lock();
    busy_.erase(id);
    if (next) {
      // One timer per entry is enough.
      for (auto it = timed_.begin(); it != timed_.end();)
        it = it->second == id ? timed_.erase(it) : std::next(it);
      timed_.emplace(*next, id);
    }
    cv_.notify_all();
  }
}

}  // namespace postern::store
