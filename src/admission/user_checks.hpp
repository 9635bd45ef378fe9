// The user half of the RCPT checks (SPEC §5), called from checks.cpp after
// the relay rule: a recipient in a local domain must be a user of the
// database (`550 5.1.1 No such user`) whose mailbox is not disabled
// (`550 5.2.1 Mailbox disabled`), unless the aliases file or SRS says where
// it goes (store/forwarding.hpp: accepted; a loop is `554 5.4.6`, a forged
// SRS address `550 5.1.1`). postmaster@<any local domain> and the
// bare <postmaster> are always accepted (RFC 5321 §4.5.1), unless the
// postmaster address cannot be delivered (postmaster_undeliverable):
// then bare <postmaster> is `550 5.1.1` rather than a bounce to <> that
// nobody reads. An SRS address of ours takes only bounces (MAIL FROM:<>),
// else `550 5.7.1`. Locks and quotas are policy_checks' (450 4.2.1, 452 4.2.2).
// With an LMTP transport ([delivery] transport = "lmtp:..."), an address
// without a row is not refused here: the LMTP server is asked last
// (delivery/lmtp.hpp, through server::RecipientVerifier).
//
// At MAIL FROM of an authenticated session the sender must be owned by
// the login (store/sender_ownership.hpp), else `553 5.7.1`.
//
// The users table is read on every call, so `postern user add/del/
// disable` act on a running server at once. Database trouble is ours:
// 451 4.3.0, never 5xx. Thread-safe (store::UserDb serialises its queries).
#pragma once

#include <memory>
#include <optional>

#include "admission/session_info.hpp"
#include "config/config.hpp"
#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace postern::store {
class UserDb;
class Forwarding;
class SenderOwnership;
}

namespace postern::admission {

class UserChecks {
 public:
  explicit UserChecks(std::shared_ptr<store::UserDb> users);
  ~UserChecks();

  // nullopt to accept. `config` is the session's snapshot (local_domains).
  std::optional<smtp::Reply> on_rcpt(const config::Config& config, const smtp::Path& reverse_path,
                                     const smtp::Path& forward_path);
  // The session's AUTH identity owns the sender (not authenticated: any sender).
  std::optional<smtp::Reply> on_mail(const SessionInfo& session, const smtp::Path& reverse_path);

 private:
  std::shared_ptr<store::UserDb> users_;
  std::unique_ptr<store::Forwarding> forwarding_;
  std::unique_ptr<store::SenderOwnership> senders_;
};

// The reason bare <postmaster> cannot be delivered under `config`, or
// nullopt when it can: the postmaster address is in this host's own name
// while that is not a local domain (as with `local_domains = []` and no
// `postmaster`), so the queue would hand it back to this server and the
// bounce would go to <postmaster>'s null sender, read by nobody.
std::optional<std::string> postmaster_undeliverable(const config::Config& config);

}  // namespace postern::admission
