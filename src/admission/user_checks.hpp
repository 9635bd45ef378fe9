// The user half of the RCPT checks (SPEC §5), called from checks.cpp after
// the relay rule: a recipient in a local domain must be a user of the
// database (`550 5.1.1 No such user`) whose mailbox is not disabled
// (`550 5.2.1 Mailbox disabled`), unless the aliases file or SRS says where
// it goes (store/forwarding.hpp: accepted; a loop is `554 5.4.6`, a forged
// SRS address `550 5.1.1`). postmaster@<any local domain> and the
// bare <postmaster> are always accepted (RFC 5321 §4.5.1). Locks and
// quotas are policy_checks' (450 4.2.1, 452 4.2.2).
//
// The users table is read on every call, so `postern user add/del/
// disable` act on a running server at once. Database trouble is ours:
// 451 4.3.0, never 5xx. Thread-safe (store::UserDb serialises its queries).
#pragma once

#include <memory>
#include <optional>

#include "config/config.hpp"
#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace postern::store {
class UserDb;
class Forwarding;
}

namespace postern::admission {

class UserChecks {
 public:
  explicit UserChecks(std::shared_ptr<store::UserDb> users);
  ~UserChecks();

  // nullopt to accept. `config` is the session's snapshot (local_domains).
  std::optional<smtp::Reply> on_rcpt(const config::Config& config, const smtp::Path& forward_path);

 private:
  std::shared_ptr<store::UserDb> users_;
  std::unique_ptr<store::Forwarding> forwarding_;
};

}  // namespace postern::admission
