#include "delivery/local_delivery.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "log/log.hpp"
#include "delivery/maildir.hpp"
#include "delivery/mbox.hpp"
#include "delivery/sync_mode.hpp"
#include "util/strings.hpp"

namespace postern::delivery {
using namespace store;  // the durable-file primitives and the spool this layer builds on
namespace {

constexpr std::string_view locked_reply = "450 4.2.1 Mailbox temporarily unavailable, try again later";

std::string return_path_header(std::string_view reverse_path, std::string_view message) {
  // Use the message's own line ending: CRLF as received over SMTP, or LF.
  auto nl = message.find('\n');
  bool crlf = nl == std::string_view::npos || (nl > 0 && message[nl - 1] == '\r');
  return "Return-Path: <" + std::string(reverse_path) + ">" + (crlf ? "\r\n" : "\n");
}

}  // namespace

LocalDelivery::LocalDelivery(std::shared_ptr<const config::Config> config, Spool& spool, UserDb* users)
    : config_(std::move(config)), spool_(spool), users_(users), forwarding_(users), direct_(spool.dir() / "journal") {}

LocalDelivery::~LocalDelivery() { stop(); }

std::shared_ptr<const config::Config> LocalDelivery::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

void LocalDelivery::reload(std::shared_ptr<const config::Config> config) {
  std::lock_guard lock(config_mutex_);
  config_ = std::move(config);
}

bool LocalDelivery::is_local(std::string_view address) const { return config()->delivers_locally(address); }

std::optional<LocalDelivery::Target> LocalDelivery::resolve(const config::Config& config, std::string_view address,
                                                            bool expand_aliases) const {
  if (!config.delivers_locally(address)) return std::nullopt;
  Target t;
  if (expand_aliases && !config.aliases_file.empty()) {
    try {
      auto expansion = forwarding_.expand(config, address);
      switch (expansion.kind) {
        case Expansion::Kind::expanded: t.expansion = std::move(expansion); return t;
        case Expansion::Kind::loop:
          log::Event("alias_loop").add("to", std::string(address)).add("detail", expansion.detail);
          t.bounce = "554 5.4.6 Alias loop detected";
          return t;
        case Expansion::Kind::invalid: t.bounce = "550 5.1.1 Invalid or expired SRS address"; return t;
        case Expansion::Kind::none: break;
      }
    } catch (const std::exception& e) {
      log::Event("alias_lookup_failed").add("to", std::string(address)).add("error", e.what());
      t.defer = "451 4.3.0 User database unavailable";
      return t;
    }
  }
  const std::string addr = config.final_recipient(address);
  auto canonical = canonical_address(addr);
  if (!canonical) {
    t.bounce = "550 5.1.3 Bad recipient address syntax";
    return t;
  }
  if (users_) {
    try {
      auto user = users_->get(*canonical);
      // With an LMTP transport or a Dovecot userdb the users live there: no row here is not "unknown".
      if (!user) {
        if (!config.users_elsewhere()) t.bounce = "550 5.1.1 No such user";
      } else if (user->disabled) t.bounce = "550 5.2.1 Mailbox disabled";
    } catch (const std::exception& e) {
      t.defer = "451 4.3.0 User database unavailable";
    }
  }
  t.address = *canonical;
  auto at = canonical->rfind('@');
  t.mailbox = config.mailbox_for(canonical->substr(0, at), canonical->substr(at + 1));
  return t;
}

std::vector<DirectDelivery::Target> LocalDelivery::direct_targets(const config::Config& cfg, const Envelope& envelope,
                                                                  std::vector<std::size_t>* elsewhere) const {
  std::vector<DirectDelivery::Target> targets;
  const bool maildir = cfg.mailbox_format == config::MailboxFormat::maildir && !cfg.delivery.lmtp();
  if (!maildir && !elsewhere) return targets;
  std::map<std::filesystem::path, bool> seen;  // one copy per mailbox, however many RCPTs name it
  for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
    auto target = resolve(cfg, envelope.recipients[i], !envelope.aliases_expanded);
    if (!maildir || !target || target->bounce || target->defer || target->expansion) {
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
  log_delivered(id, envelope);
  return true;
}

bool LocalDelivery::deliver_now_async(const std::string& id, const Envelope& envelope, std::string_view message,
                                      DirectDelivery::Done done) {
  const auto snapshot = config();
  auto targets = direct_targets(*snapshot, envelope);
  if (targets.empty()) return false;
  direct_.deliver_async(id, envelope, return_path_header(envelope.reverse_path, message), message, targets,
                        [this, id, &envelope, done = std::move(done)](bool delivered) {
                          if (delivered) log_delivered(id, envelope);
                          done(delivered);
                        });
  return true;
}

std::unique_ptr<MaildirStream> LocalDelivery::open_stream(const std::string& id, const Envelope& envelope,
                                                          std::string_view first) {
  const auto snapshot = config();
  auto targets = direct_targets(*snapshot, envelope);
  if (targets.empty()) return nullptr;
  std::vector<MaildirStream::Target> boxes;
  boxes.reserve(targets.size());
  for (auto& t : targets) boxes.push_back({std::move(t.mailbox), t.recipient});
  return std::make_unique<MaildirStream>(envelope, id, return_path_header(envelope.reverse_path, first),
                                         std::move(boxes));
}

void LocalDelivery::log_delivered(const std::string& id, const Envelope& envelope) const {
  for (const auto& r : envelope.recipients) {
    log::Event("delivery")
        .add("queue_id", id)
        .add("to", "<" + r + ">")
        .add("status", "delivered")
        .add("attempts", 1LL)
        .add("reply", "250 2.0.0 Delivered");
  }
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

std::vector<LocalDelivery::Result> LocalDelivery::attempt(const SpoolEntry& entry,
                                                          const std::vector<std::size_t>& recipients,
                                                          std::vector<std::size_t>* lmtp) {
  const auto snapshot = config();
  const config::Config& cfg = *snapshot;
  std::optional<std::string> body;
  std::vector<Result> results;
  std::map<std::filesystem::path, Result> by_mailbox;  // one copy per mailbox, however many RCPTs name it
  std::vector<std::pair<std::size_t, Expansion>> aliases;
  std::set<std::string> named;  // users this attempt delivers to by their own address
  for (auto i : recipients) {
    const auto& address = entry.recipients.at(i).address;
    Result o{i, RecipientStatus::deferred, {}};
    auto target = resolve(cfg, address, !entry.envelope.aliases_expanded);
    if (target && !target->expansion && !target->bounce && !target->defer) named.insert(target->address);
    if (!target) o.reply = "451 4.3.0 Not a local recipient any more";  // the scheduler asked just before a reload
    else if (target->expansion) {
      aliases.emplace_back(i, std::move(*target->expansion));
      continue;
    } else if (target->bounce) o = {i, RecipientStatus::bounced, *target->bounce};
    else if (target->defer) o.reply = *target->defer;
    else if (cfg.delivery.lmtp()) {
      if (lmtp) {
        lmtp->push_back(i);  // the caller hands it to the LMTP server (delivery/lmtp.hpp)
        continue;
      }
      o.reply = "451 4.3.0 Delivery through LMTP unavailable here";
    }
    else if (auto it = by_mailbox.find(target->mailbox); it != by_mailbox.end()) o = {i, it->second.status, it->second.reply};
    else {
      if (!body) {
        body = spool_.message(entry.id);
        if (!body) return {};  // removed meanwhile (`postern queue delete`)
      }
      const std::string header = return_path_header(entry.envelope.reverse_path, *body);
      try {
        if (cfg.mailbox_format == config::MailboxFormat::mbox) {
          auto res = mbox_deliver(target->mailbox, entry.envelope.reverse_path, header + *body,
                                  entry.envelope.received_at);
          o = res == MboxResult::delivered ? Result{i, RecipientStatus::delivered, "250 2.0.0 Delivered"}
                                           : Result{i, RecipientStatus::deferred, std::string(locked_reply)};
        } else {
          // The name the direct path would give it: a repeat after a crash
          // (written, not yet marked delivered) finds this copy and keeps it.
          const std::size_t size = header.size() + body->size();
          maildir_deliver_once(target->mailbox, maildir_fixed_prefix(entry.envelope, entry.id, i),
                               maildir_fixed_name(entry.envelope, entry.id, i, size), header, *body);
          o = {i, RecipientStatus::delivered, "250 2.0.0 Delivered"};
        }
      } catch (const std::exception& e) {
        log::Event("delivery_error").add("queue_id", entry.id).add("to", address).add("error", e.what());
        o = {i, RecipientStatus::deferred, "451 4.3.0 Local delivery failed, will retry"};
      }
      by_mailbox[target->mailbox] = o;
    }
    results.push_back(std::move(o));
  }
  if (!aliases.empty()) {
    // An alias beside one of its users: that user gets this message once, as its own recipient.
    for (auto& [i, expansion] : aliases)
      std::erase_if(expansion.mailboxes, [&](const std::string& m) { return named.count(m) > 0; });
    const Result r = forward(cfg, entry, aliases, body);
    if (r.reply.empty()) return {};  // the message is gone from the spool
    for (auto& [i, expansion] : aliases) results.push_back({i, r.status, r.reply});
  }
  return results;
}

LocalDelivery::Result LocalDelivery::forward(const config::Config& cfg, const SpoolEntry& entry,
                                             const std::vector<std::pair<std::size_t, Expansion>>& aliases,
                                             std::optional<std::string>& body) {
  if (!inject_) return {0, RecipientStatus::deferred, "451 4.3.0 Alias expansion unavailable"};
  // One copy to the mailboxes, one per sender to what is forwarded elsewhere.
  Envelope local = entry.envelope;
  local.recipients.clear();
  local.aliases_expanded = true;
  std::map<std::string, std::vector<std::string>> remote;  // sender -> recipients
  for (const auto& [i, expansion] : aliases) {
    for (const auto& m : expansion.mailboxes)
      if (std::find(local.recipients.begin(), local.recipients.end(), m) == local.recipients.end())
        local.recipients.push_back(m);
    if (expansion.forwards.empty()) continue;
    auto& group = remote[forwarding_.forward_sender(cfg, entry.envelope.reverse_path, entry.recipients.at(i).address)];
    for (const auto& f : expansion.forwards)
      if (std::find(group.begin(), group.end(), f) == group.end()) group.push_back(f);
  }
  if (!body) {
    body = spool_.message(entry.id);
    if (!body) return {};
  }
  std::string ids;
  try {
    if (!local.recipients.empty()) ids += inject_(local, *body);
    for (auto& [sender, rcpts] : remote) {
      Envelope e = entry.envelope;
      e.reverse_path = sender;
      e.recipients = rcpts;
      e.aliases_expanded = true;
      ids += (ids.empty() ? "" : " ") + inject_(e, *body);
    }
  } catch (const std::exception& e) {
    log::Event("alias_forward_error").add("queue_id", entry.id).add("error", e.what());
    return {0, RecipientStatus::deferred, "451 4.3.0 Alias expansion failed, will retry"};
  }
  if (ids.empty()) return {0, RecipientStatus::delivered, "250 2.1.5 Expanded by alias (its users are recipients already)"};
  return {0, RecipientStatus::delivered, "250 2.1.5 Expanded by alias (queued as " + ids + ")"};
}

void LocalDelivery::log_sync_mode() const {
  const auto snapshot = config();
  const std::string& pattern = snapshot->mailbox_path;
  std::string fixed = pattern.substr(0, pattern.find('{'));  // the part every mailbox shares
  while (!fixed.empty() && fixed.back() == '/') fixed.pop_back();
  const auto root = snapshot->data_dir / fixed;
  const auto mailboxes = file_system_of(root).value_or(FileSystemKind{"unknown", true});
  const auto spool = file_system_of(spool_.dir()).value_or(FileSystemKind{"unknown", true});
  log::Event("sync_mode")
      .add("mailboxes", root.string())
      .add("fs", mailboxes.name)
      .add("mode", std::string(to_string(sync_mode_for(snapshot->mailbox_sync, mailboxes))))
      .add("spool_fs", spool.name)
      .add("spool_mode", "fsync");
}

void LocalDelivery::start() {
  log_sync_mode();
  direct_.set_sync_policy(config()->mailbox_sync);
  // Whatever the journal holds was accepted before a crash or restart.
  try {
    recover_journal();
  } catch (const std::exception& e) {
    log::Event("journal_recover_error").add("error", e.what());
  }
  direct_.start();
}

void LocalDelivery::stop() {
  direct_.stop();
  if (direct_.sync_rounds() && !stats_logged_.exchange(true))
    log::Event("direct_delivery_stats")
        .add("journal_flushes", static_cast<long long>(direct_.journal().flushes()))
        .add("sync_rounds", static_cast<long long>(direct_.sync_rounds()))
        .add("live", static_cast<long long>(direct_.journal().live()));
}

}  // namespace postern::delivery
