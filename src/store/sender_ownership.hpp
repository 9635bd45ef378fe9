// Who may send as what (SPEC §11, as Postfix's reject_sender_login_mismatch):
// a login owns an address when it is
//   * the login itself;
//   * an address the aliases file (or the postmaster setting) delivers to
//     the login's mailbox, among others or alone; or
//   * listed for the login with `postern user sender LOGIN add ADDR`.
// A login owns a domain, for DKIM, when the domain is a local domain and
// the login owns an address in it.
//
// The server asks at MAIL FROM of an authenticated session (553 5.7.1),
// the queue before it signs (dkim/). Database trouble throws: the caller
// answers 4xx or leaves the message unsigned.
//
// Threads: safe from any thread.
#pragma once

#include <string_view>

#include "config/config.hpp"
#include "store/forwarding.hpp"

namespace postern::store {

class UserDb;

class SenderOwnership {
 public:
  // `users` must outlive this.
  explicit SenderOwnership(UserDb& users) : users_(users), forwarding_(&users) {}

  bool owns_address(const config::Config& config, std::string_view login, std::string_view address);
  bool owns_domain(const config::Config& config, std::string_view login, std::string_view domain);

 private:
  // True when the aliases file takes `key` (an address or "@domain") to `login`'s mailbox.
  bool alias_reaches(const config::Config& config, std::string_view key, const std::string& login);

  UserDb& users_;
  Forwarding forwarding_;
};

}  // namespace postern::store
