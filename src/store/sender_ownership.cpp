#include "store/sender_ownership.hpp"

#include <algorithm>

#include "store/users.hpp"
#include "util/strings.hpp"

namespace postern::store {
namespace {

std::string_view domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

}  // namespace

bool SenderOwnership::alias_reaches(const config::Config& config, std::string_view key, const std::string& login) {
  const auto expansion = forwarding_.expand(config, key);
  if (expansion.kind != Expansion::Kind::expanded || expansion.srs) return false;
  return std::find(expansion.mailboxes.begin(), expansion.mailboxes.end(), login) != expansion.mailboxes.end();
}

bool SenderOwnership::owns_address(const config::Config& config, std::string_view login, std::string_view address) {
  const auto user = canonical_address(login);
  const auto addr = canonical_address(address);
  if (!user || !addr) return false;
  if (*addr == *user || users_.has_sender(*user, *addr)) return true;
  // postmaster@<local domain>: whoever owns the postmaster address (a user, or an alias of theirs).
  if (const auto target = config.final_recipient(*addr); target != *addr) return owns_address(config, *user, target);
  return config.is_local_domain(domain_of(*addr)) && alias_reaches(config, *addr, *user);
}

bool SenderOwnership::owns_domain(const config::Config& config, std::string_view login, std::string_view domain) {
  const auto user = canonical_address(login);
  if (!user || domain.empty() || !config.is_local_domain(domain)) return false;
  auto in_domain = [&](std::string_view address) { return util::iequals(domain_of(address), domain); };
  if (in_domain(*user)) return true;
  if (canonical_address(config.postmaster) == user) return true;  // postmaster@ every local domain
  try {
    for (const auto& a : users_.senders(*user))
      if (in_domain(a)) return true;
  } catch (const UserError&) {
    return false;  // no longer a user
  }
  for (const auto& key : forwarding_.alias_keys(config, domain))
    if (alias_reaches(config, key, *user)) return true;
  return false;
}

}  // namespace postern::store
