#include "server/checks.hpp"

#include "server/user_checks.hpp"
#include "smtp/replies.hpp"

namespace postern::server {

Checks::Checks(const config::Config& config) : users_(std::make_unique<UserChecks>(config)) {}
Checks::~Checks() = default;

void Checks::reload(const config::Config&) {}

bool is_plain_local(const config::Config& config, const smtp::Mailbox& mailbox) {
  if (mailbox.address_literal || !config.is_local_domain(mailbox.domain)) return false;
  // "user%other@local" and "other!user@local" are old relay syntaxes; a
  // quoted "a@b"@local hides a second address. None is a local mailbox.
  return mailbox.local_part.find_first_of("%!@") == std::string::npos;
}

std::optional<smtp::Reply> relay_rule(const SessionInfo& session, const smtp::Path& path) {
  if (path.postmaster) return std::nullopt;  // RFC 5321 §4.5.1
  if (session.authenticated()) return std::nullopt;
  if (!path.source_route.empty()) return smtp::replies::relay_denied();
  if (!is_plain_local(*session.config, path.mailbox)) return smtp::replies::relay_denied();
  return std::nullopt;
}

std::optional<smtp::Reply> Checks::on_connect(const SessionInfo&) { return std::nullopt; }

std::optional<smtp::Reply> Checks::on_mail(const SessionInfo& session, const smtp::Path&,
                                           const smtp::MailParameters&) {
  if (session.role == config::Role::submission && !session.authenticated()) return smtp::replies::auth_required();
  return std::nullopt;
}

std::optional<smtp::Reply> Checks::on_rcpt(const SessionInfo& session, const TransactionInfo&,
                                           const smtp::Path& forward_path) {
  if (auto r = relay_rule(session, forward_path)) return r;
  if (auto r = users_->on_rcpt(*session.config, forward_path)) return r;
  return std::nullopt;
}

}  // namespace postern::server
