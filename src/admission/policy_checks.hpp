// The policy half of the server's RCPT/MAIL checks (SPEC §5), called from
// admission/checks.cpp after the relay rule and the user checks:
//   MAIL  rate limit per client IP            450 4.7.1
//   RCPT  admin lock (`postern user lock`)    450 4.2.1 (reason only in the log)
//         mbox held locked by another process 450 4.2.1
//         over quota (SIZE= if given)         452 4.2.2
//         greylist, unauthenticated only      450 4.2.0 ... N seconds
//   end of DATA/BDAT: the real size against each recipient's quota
//                                             452 4.2.2
// Greylisting comes last so that only triplets for deliverable recipients
// are remembered. State: policy::Engine (SQLite or Redis) and the user
// database, read on every call so admin commands act at once.
// Threads: every call may come from any I/O thread concurrently. A call
// costs one store round trip (SQLite with a 2 s busy timeout, or Redis
// with 2 s timeouts from a small connection pool) plus, with a quota, a
// scan of the mailbox's size.
#pragma once

#include "util/metrics.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "smtp/reply.hpp"

namespace postern::policy {
struct Engine;
}
namespace postern::store {
class UserDb;
}

namespace postern::admission {

class Users;

struct RcptPolicyInput {
  std::string_view session_id;
  std::string_view client;            // peer address
  bool authenticated = false;
  std::string_view reverse_path;      // "" for <>
  std::string_view recipient;         // "local@domain" ("postmaster@<first local domain>" for bare <postmaster>)
  std::optional<std::uint64_t> size;  // MAIL SIZE=
  const std::optional<std::string>* client_name = nullptr;  // FCrDNS name, when looked up at connect
};

class PolicyChecks {
 public:
  // Opens the greylist/rate store and the user database; throws
  // policy::StoreError or std::exception when they cannot be opened.
  PolicyChecks(const config::Config& config, Users& users);
  ~PolicyChecks();

  std::optional<smtp::Reply> on_mail(std::string_view session_id, std::string_view client);
  std::optional<smtp::Reply> on_rcpt(const RcptPolicyInput& in);
  // True when greylisting wants the client's reverse DNS name (see SessionInfo::client_name).
  bool needs_client_name();
  // After the whole message was read, before it is spooled.
  std::optional<smtp::Reply> on_message(std::string_view session_id, const std::vector<std::string>& recipients,
                                        std::uint64_t size);
  // SIGHUP: new [greylist]/[policy] settings (the old store stays if this throws).
  void reload(const config::Config& config);
  // Greylist decisions are counted here (GET /metrics); null: not counted.
  void set_metrics(util::Metrics* metrics) { metrics_ = metrics; }

 private:
  Users& users_;
  struct State;
  std::shared_ptr<State> state();
  std::optional<smtp::Reply> mailbox_state(State& s, std::string_view session_id, std::string_view recipient,
                                           std::uint64_t incoming);

  std::mutex mu_;
  std::shared_ptr<State> state_;
  util::Metrics* metrics_ = nullptr;
};

// Octets currently in a mailbox (Maildir new/ + cur/, or the mbox file); 0 if missing.
std::uint64_t mailbox_usage(const config::Config& config, const std::filesystem::path& mailbox);

}  // namespace postern::admission
