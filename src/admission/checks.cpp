#include "admission/checks.hpp"

#include "admission/user_checks.hpp"
#include "admission/users.hpp"
#include "admission/policy_checks.hpp"
#include "smtp/replies.hpp"

namespace postern::admission {

Checks::Checks(const config::Config& config, Users& users)
    : users_(std::make_unique<UserChecks>(users.open(config))), policy_(std::make_unique<PolicyChecks>(config, users)) {}
Checks::~Checks() = default;

void Checks::reload(const config::Config& config) { policy_->reload(config); }

void Checks::set_metrics(util::Metrics* metrics) { policy_->set_metrics(metrics); }

bool Checks::needs_client_name() { return policy_->needs_client_name(); }

namespace {

// The address policy checks: where the mail really goes (bare <postmaster> is `postmaster`).
std::string recipient_address(const SessionInfo& session, const smtp::Path& path) {
  return session.config->final_recipient(path.postmaster ? std::string("postmaster") : path.mailbox.str());
}

}  // namespace

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

std::optional<smtp::Reply> Checks::on_mail(const SessionInfo& session, const smtp::Path& reverse_path,
                                           const smtp::MailParameters&) {
  if (session.role == config::Role::submission && !session.authenticated()) return smtp::replies::auth_required();
  if (auto r = users_->on_mail(session, reverse_path)) return r;
  if (auto r = policy_->on_mail(session.id, session.peer_address)) return r;
  return std::nullopt;
}

std::optional<smtp::Reply> Checks::on_rcpt(const SessionInfo& session, const TransactionInfo& transaction,
                                           const smtp::Path& forward_path) {
  if (auto r = relay_rule(session, forward_path)) return r;
  if (auto r = users_->on_rcpt(*session.config, transaction.reverse_path, forward_path)) return r;
  // Policy last: lock, mbox lock, quota, then greylisting (unauthenticated only).
  const std::string to = recipient_address(session, forward_path);
  const std::string from = transaction.reverse_path.str();
  RcptPolicyInput in;
  in.session_id = session.id;
  in.client = session.peer_address;
  in.authenticated = session.authenticated();
  in.reverse_path = from;
  in.recipient = to;
  in.size = transaction.parameters.size;
  if (session.client_name_checked) in.client_name = &session.client_name;
  if (auto r = policy_->on_rcpt(in)) return r;
  return std::nullopt;
}

std::optional<smtp::Reply> Checks::on_message(const SessionInfo& session, const TransactionInfo& transaction,
                                              std::uint64_t size) {
  return policy_->on_message(session.id, transaction.recipients, size);
}

}  // namespace postern::admission
