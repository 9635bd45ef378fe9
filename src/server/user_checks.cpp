#include "server/user_checks.hpp"

#include "log/log.hpp"
#include "smtp/replies.hpp"
#include "store/users.hpp"
#include "util/strings.hpp"

namespace postern::server {

UserChecks::UserChecks(const config::Config& config)
    : users_(std::make_unique<store::UserDb>(config.database_path())) {}

UserChecks::~UserChecks() = default;

std::optional<smtp::Reply> UserChecks::on_rcpt(const config::Config& config, const smtp::Path& path) {
  if (path.postmaster) return std::nullopt;  // RFC 5321 §4.5.1
  const auto& mailbox = path.mailbox;
  // Not ours to judge: relaying (already allowed by the relay rule).
  if (mailbox.address_literal || !config.is_local_domain(mailbox.domain)) return std::nullopt;
  if (util::iequals(mailbox.local_part, "postmaster")) return std::nullopt;  // RFC 5321 §4.5.1
  const auto address = store::canonical_address(mailbox.local_part + "@" + mailbox.domain);
  if (!address) return smtp::Reply{550, "5.1.1", "No such user"};
  try {
    const auto user = users_->get(*address);
    if (!user) return smtp::Reply{550, "5.1.1", "No such user"};
    if (user->disabled) return smtp::Reply{550, "5.2.1", "Mailbox disabled"};
  } catch (const std::exception& e) {
    log::Event("user_lookup_failed").add("to", *address).add("error", e.what());
    return smtp::replies::local_error();
  }
  return std::nullopt;
}

}  // namespace postern::server
