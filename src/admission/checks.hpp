// Per-session policy checks: the seam where the server asks "may this
// connection / sender / recipient go on?" (SPEC §5). Each hook returns
// nullopt to accept or the Reply to send instead (4xx temporary, 5xx
// permanent; our own trouble, e.g. a database error, is 4xx).
//
// Rules here, in order:
//   on_connect: (policy may add e.g. per-IP rate rules)
//   on_mail:    submission role requires AUTH (530 5.7.0); then policy
//               (rate limit 450 4.7.1).
//   on_rcpt:    relay rule (non-local domain, source route, `%`/`!`/`@`
//               tricks in a local part, without AUTH: 554 5.7.1); then
//               store (unknown 550 5.1.1, disabled 550 5.2.1 — postmaster
//               always accepted) and policy (greylist 450 4.2.0, lock
//               450 4.2.1, quota 452 4.2.2), which add their calls below
//               the relay rule in checks.cpp.
//
// How to extend: add members (a user database, a greylist store) to
// Checks, construct them in the constructor from the config, call them in
// the hook. reload() is called on SIGHUP with the new config.
//
// Threads: hooks are called concurrently from every I/O thread; members
// must be thread-safe. They run on the I/O thread, so keep them short
// (one indexed database query is fine; no network round trips without a
// timeout).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "config/config.hpp"
#include "admission/session_info.hpp"
#include "smtp/address.hpp"
#include "smtp/command.hpp"
#include "smtp/reply.hpp"
#include "util/metrics.hpp"

namespace postern::admission {

class UserChecks;
class Users;
class PolicyChecks;

class Checks {
 public:
  // `users`: the server's one user store (users.hpp), which must outlive the checks.
  Checks(const config::Config& config, Users& users);
  ~Checks();

  std::optional<smtp::Reply> on_connect(const SessionInfo& session);
  std::optional<smtp::Reply> on_mail(const SessionInfo& session, const smtp::Path& reverse_path,
                                     const smtp::MailParameters& parameters);
  std::optional<smtp::Reply> on_rcpt(const SessionInfo& session, const TransactionInfo& transaction,
                                     const smtp::Path& forward_path);

  // After the whole message was read, before it is spooled: checks that
  // need the real size (quota, 452 4.2.2). `size` in octets as received.
  std::optional<smtp::Reply> on_message(const SessionInfo& session, const TransactionInfo& transaction,
                                        std::uint64_t size);

  // True when a check needs SessionInfo::client_name (a greylist allow
  // entry by domain); the session then looks it up before its greeting.
  bool needs_client_name();

  // SIGHUP: the config was reloaded (users, lists and limits may have changed).
  void reload(const config::Config& config);
  // Greylist decisions are counted in `metrics` (null: not counted).
  void set_metrics(util::Metrics* metrics);

 private:
  std::unique_ptr<UserChecks> users_;  // store: unknown 550 5.1.1, disabled 550 5.2.1
  std::unique_ptr<PolicyChecks> policy_;  // greylist, locks, quota, rate limit (admission/policy_checks.hpp)
};

// The relay rule alone (exposed for tests): nullopt when `forward_path`
// may be accepted from this session, else 554 5.7.1.
std::optional<smtp::Reply> relay_rule(const SessionInfo& session, const smtp::Path& forward_path);

// True when the mailbox is in one of our local domains and its local part
// hides no routing trick (`%`, `!`, `@`: RFC 5321 §3.6.1 / §6.3).
bool is_plain_local(const config::Config& config, const smtp::Mailbox& mailbox);

}  // namespace postern::admission
