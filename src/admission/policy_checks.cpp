#include "admission/policy_checks.hpp"

#include "admission/users.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "log/log.hpp"
#include "policy/greylist.hpp"
#include "delivery/maildir.hpp"
#include "delivery/mbox.hpp"
#include "smtp/replies.hpp"
#include "store/users.hpp"

namespace postern::admission {
namespace {

using smtp::replies::mailbox_full;
using smtp::replies::mailbox_unavailable;

// SPEC §5: 450 4.2.1 only for an mbox held by *another* process. Our own
// local delivery writes its PID into the dotlock; while it appends, RCPTs
// for the same mailbox must go on (fcntl F_GETLK never reports our own locks).
bool mbox_held_by_other(const std::filesystem::path& mbox) {
  std::ifstream lock(mbox.string() + ".lock");
  std::string pid;
  if (lock && std::getline(lock, pid) && pid == std::to_string(::getpid())) return false;
  return delivery::mbox_locked(mbox);
}

}  // namespace

struct PolicyChecks::State {
  config::Config config;
  std::unique_ptr<policy::Engine> engine;
  std::shared_ptr<store::UserDb> users;
};

PolicyChecks::PolicyChecks(const config::Config& config, Users& users) : users_(users) { reload(config); }
PolicyChecks::~PolicyChecks() = default;

void PolicyChecks::reload(const config::Config& config) {
  auto s = std::make_shared<State>();
  s->config = config;
  s->engine = policy::Engine::open(config);
  s->users = users_.open(config);
  if (s->engine->store) {
    log::Event("policy")
        .add("store", s->engine->store->describe())
        .add("greylist", s->engine->greylist ? "on" : "off")
        .add("rate_limit", s->engine->rate_limit ? "on" : "off");
  }
  std::lock_guard lock(mu_);
  state_ = std::move(s);
}

std::shared_ptr<PolicyChecks::State> PolicyChecks::state() {
  std::lock_guard lock(mu_);
  return state_;
}

std::uint64_t mailbox_usage(const config::Config& config, const std::filesystem::path& mailbox) {
  std::error_code ec;
  if (config.mailbox_format == config::MailboxFormat::mbox) {
    auto n = std::filesystem::file_size(mailbox, ec);
    return ec ? 0 : n;
  }
  if (!std::filesystem::exists(mailbox, ec)) return 0;
  try {
    return delivery::maildir_size(mailbox);
  } catch (const std::exception&) {
    return 0;
  }
}

std::optional<smtp::Reply> PolicyChecks::on_mail(std::string_view session_id, std::string_view client) {
  auto s = state();
  if (!s->engine->rate_limit) return std::nullopt;
  std::string detail;
  auto r = s->engine->rate_limit->check(client, &detail);
  if (r) {
    log::Event("rate_limit").add("session", session_id).add("client", client).add("detail", detail)
        .add("reply", r->summary());
  }
  return r;
}

std::optional<smtp::Reply> PolicyChecks::mailbox_state(State& s, std::string_view session_id,
                                                       std::string_view recipient, std::uint64_t incoming) {
  auto at = recipient.rfind('@');
  if (at == std::string_view::npos || !s.config.is_local_domain(recipient.substr(at + 1))) return std::nullopt;
  auto canonical = store::canonical_address(recipient);
  if (!canonical) return std::nullopt;
  std::optional<store::User> user;
  try {
    user = s.users->get(*canonical);
  } catch (const std::exception& e) {
    log::Event("policy_error").add("session", session_id).add("to", "<" + *canonical + ">").add("error", e.what());
    return policy::local_problem_reply();
  }
  if (!user) return std::nullopt;  // unknown users are the user checks' business (550 5.1.1)
  if (user->locked) {
    log::Event("mailbox_locked")
        .add("session", session_id)
        .add("to", "<" + *canonical + ">")
        .add("lock", "admin")
        .add("reason", user->lock_reason);
    return mailbox_unavailable();
  }
  auto cat = canonical->rfind('@');
  auto path = s.config.mailbox_for(std::string_view(*canonical).substr(0, cat), std::string_view(*canonical).substr(cat + 1));
  if (s.config.mailbox_format == config::MailboxFormat::mbox && mbox_held_by_other(path)) {
    log::Event("mailbox_locked").add("session", session_id).add("to", "<" + *canonical + ">").add("lock", "mbox");
    return mailbox_unavailable();
  }
  if (user->quota_bytes > 0) {
    auto used = mailbox_usage(s.config, path);
    if (used >= user->quota_bytes || incoming > user->quota_bytes - used) {
      log::Event("mailbox_full")
          .add("session", session_id)
          .add("to", "<" + *canonical + ">")
          .add("used", static_cast<long long>(used))
          .add("incoming", static_cast<long long>(incoming))
          .add("quota", static_cast<long long>(user->quota_bytes));
      return mailbox_full();
    }
  }
  return std::nullopt;
}

bool PolicyChecks::needs_client_name() {
  auto s = state();
  return s->engine->greylist && s->engine->greylist->needs_client_name();
}

std::optional<smtp::Reply> PolicyChecks::on_rcpt(const RcptPolicyInput& in) {
  auto s = state();
  std::uint64_t incoming = in.size.value_or(0);
  if (incoming == UINT64_MAX) incoming = 0;  // an overflowing SIZE= was refused at MAIL already
  if (auto r = mailbox_state(*s, in.session_id, in.recipient, incoming)) return r;
  // SPEC §5: authenticated sessions skip greylisting.
  if (in.authenticated || !s->engine->greylist) return std::nullopt;
  // The name was looked up asynchronously at connect; never here, on the I/O thread.
  static const std::optional<std::string> no_name;
  auto outcome = s->engine->greylist->check(in.client, in.reverse_path, in.recipient,
                                            in.client_name ? in.client_name : &no_name);
  log::Event ev("greylist");
  ev.add("session", in.session_id).add("client", in.client).add("triplet", outcome.triplet);
  switch (outcome.kind) {
    case policy::GreylistOutcome::Kind::passed: ev.add("result", "pass"); break;
    case policy::GreylistOutcome::Kind::allowed: ev.add("result", "allow"); break;
    case policy::GreylistOutcome::Kind::greylisted:
      ev.add("result", "greylisted").add("retry_in", static_cast<long long>(outcome.wait_seconds));
      break;
    case policy::GreylistOutcome::Kind::failed: ev.add("result", "error"); break;
  }
  ev.add("detail", outcome.detail);
  if (metrics_) {
    const char* decision = outcome.kind == policy::GreylistOutcome::Kind::passed    ? "pass"
                           : outcome.kind == policy::GreylistOutcome::Kind::allowed ? "allow"
                           : outcome.kind == policy::GreylistOutcome::Kind::greylisted ? "greylisted"
                                                                                       : "error";
    metrics_->add("postern_greylist_total", {{"decision", decision}});
  }
  return outcome.reply();
}

std::optional<smtp::Reply> PolicyChecks::on_message(std::string_view session_id,
                                                    const std::vector<std::string>& recipients, std::uint64_t size) {
  auto s = state();
  // One over-quota recipient defers the whole message (452 is temporary):
  // SMTP has one reply to DATA, and accepting would mean bouncing later.
  for (auto& rcpt : recipients) {
    auto r = mailbox_state(*s, session_id, rcpt, size);
    if (r && r->code == 452) return r;
  }
  return std::nullopt;
}

}  // namespace postern::admission
