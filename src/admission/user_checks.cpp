#include "admission/user_checks.hpp"

#include "log/log.hpp"
#include "smtp/replies.hpp"
#include "store/forwarding.hpp"
#include "store/sender_ownership.hpp"
#include "store/users.hpp"
#include "util/strings.hpp"

namespace postern::admission {

UserChecks::UserChecks(std::shared_ptr<store::UserDb> users)
    : users_(std::move(users)),
      forwarding_(std::make_unique<store::Forwarding>(users_.get())),
      senders_(std::make_unique<store::SenderOwnership>(*users_)) {}

UserChecks::~UserChecks() = default;

std::optional<std::string> postmaster_undeliverable(const config::Config& config) {
  const auto at = config.postmaster.rfind('@');
  if (at == std::string::npos || config.delivers_locally(config.postmaster)) return std::nullopt;
  if (!util::iequals(std::string_view(config.postmaster).substr(at + 1), config.hostname)) return std::nullopt;
  return "postmaster " + config.postmaster + " is in this host's name (" + config.hostname +
         "), which is not in local_domains: mail to it would come back here and be lost; <postmaster> is "
         "refused (550 5.1.1). Add " + config.hostname + " to local_domains or set postmaster to an address that receives mail";
}

namespace {

// RFC 5321 §4.5.1: postmaster is always accepted, if it can be delivered at all.
std::optional<smtp::Reply> postmaster_reply(const config::Config& config) {
  if (postmaster_undeliverable(config)) return smtp::replies::no_such_user();
  return std::nullopt;
}

}  // namespace

std::optional<smtp::Reply> UserChecks::on_mail(const SessionInfo& session, const smtp::Path& reverse_path) {
  const config::Config& config = *session.config;
  const std::string& login = session.auth_identity;
  if (login.empty() || reverse_path.null) return std::nullopt;
  const std::string sender = reverse_path.mailbox.str();
  try {
    if (senders_->owns_address(config, login, sender)) return std::nullopt;
  } catch (const std::exception& e) {
    log::Event("user_lookup_failed").add("from", sender).add("error", e.what());
    return smtp::replies::local_error();
  }
  log::Event("sender_not_owned").add("session", session.id).add("client", session.peer_address)
      .add("user", login).add("from", sender);
  return smtp::replies::sender_not_owned();
}

std::optional<smtp::Reply> UserChecks::on_rcpt(const config::Config& config, const smtp::Path& reverse_path,
                                               const smtp::Path& path) {
  if (path.postmaster) return postmaster_reply(config);  // RFC 5321 §4.5.1
  const auto& mailbox = path.mailbox;
  // Not ours to judge: relaying (already allowed by the relay rule).
  if (mailbox.address_literal || !config.is_local_domain(mailbox.domain)) return std::nullopt;
  const auto address = store::canonical_address(mailbox.local_part + "@" + mailbox.domain);
  if (!address) {
    if (util::iequals(mailbox.local_part, "postmaster")) return postmaster_reply(config);  // RFC 5321 §4.5.1
    return smtp::replies::no_such_user();
  }
  try {
    const auto expansion = forwarding_->expand(config, *address);
    if (expansion.srs && !reverse_path.null && expansion.kind != store::Expansion::Kind::invalid) {
      log::Event("srs_not_bounce").add("to", *address).add("from", reverse_path.mailbox.str());
      return smtp::replies::srs_bounces_only();
    }
    switch (expansion.kind) {
      case store::Expansion::Kind::expanded: return std::nullopt;
      case store::Expansion::Kind::loop:
        log::Event("alias_loop").add("to", *address).add("detail", expansion.detail);
        return smtp::replies::alias_loop();
      case store::Expansion::Kind::invalid: return smtp::replies::bad_srs_address();
      case store::Expansion::Kind::none: break;
    }
    if (util::iequals(mailbox.local_part, "postmaster")) return postmaster_reply(config);  // RFC 5321 §4.5.1
    const auto user = users_->get(*address);
    // With an LMTP transport or a Dovecot userdb, that server knows the
    // users and is asked next (server::RecipientVerifier); a row here still disables.
    if (!user) {
      if (!config.users_elsewhere()) return smtp::replies::no_such_user();
    } else if (user->disabled) {
      return smtp::replies::mailbox_disabled();
    }
  } catch (const std::exception& e) {
    log::Event("user_lookup_failed").add("to", *address).add("error", e.what());
    return smtp::replies::local_error();
  }
  return std::nullopt;
}

}  // namespace postern::admission
