#include "admission/user_checks.hpp"

#include "log/log.hpp"
#include "smtp/replies.hpp"
#include "store/forwarding.hpp"
#include "store/users.hpp"
#include "util/strings.hpp"

namespace postern::admission {

UserChecks::UserChecks(std::shared_ptr<store::UserDb> users)
    : users_(std::move(users)),
      forwarding_(std::make_unique<store::Forwarding>(users_.get())) {}

UserChecks::~UserChecks() = default;

std::optional<smtp::Reply> UserChecks::on_rcpt(const config::Config& config, const smtp::Path& path) {
  if (path.postmaster) return std::nullopt;  // RFC 5321 §4.5.1
  const auto& mailbox = path.mailbox;
  // Not ours to judge: relaying (already allowed by the relay rule).
  if (mailbox.address_literal || !config.is_local_domain(mailbox.domain)) return std::nullopt;
  const auto address = store::canonical_address(mailbox.local_part + "@" + mailbox.domain);
  if (!address) {
    if (util::iequals(mailbox.local_part, "postmaster")) return std::nullopt;  // RFC 5321 §4.5.1
    return smtp::replies::no_such_user();
  }
  try {
    const auto expansion = forwarding_->expand(config, *address);
    switch (expansion.kind) {
      case store::Expansion::Kind::expanded: return std::nullopt;
      case store::Expansion::Kind::loop:
        log::Event("alias_loop").add("to", *address).add("detail", expansion.detail);
        return smtp::replies::alias_loop();
      case store::Expansion::Kind::invalid: return smtp::replies::bad_srs_address();
      case store::Expansion::Kind::none: break;
    }
    if (util::iequals(mailbox.local_part, "postmaster")) return std::nullopt;  // RFC 5321 §4.5.1
    const auto user = users_->get(*address);
    if (!user) return smtp::replies::no_such_user();
    if (user->disabled) return smtp::replies::mailbox_disabled();
  } catch (const std::exception& e) {
    log::Event("user_lookup_failed").add("to", *address).add("error", e.what());
    return smtp::replies::local_error();
  }
  return std::nullopt;
}

}  // namespace postern::admission
