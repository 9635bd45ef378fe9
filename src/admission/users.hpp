// The one handle on the user database for everything admission asks of
// it: the RCPT checks (user_checks), mailbox locks and quotas
// (policy_checks) and AUTH's credentials (auth_state). Opened on first
// use; a reload that moves the database opens the new one, and whoever
// still holds the old handle finishes with it. Thread-safe (store::UserDb
// serialises its queries).
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>

#include "config/config.hpp"

namespace postern::store {
class UserDb;
}

namespace postern::admission {

class Users {
 public:
  Users();
  ~Users();
  Users(const Users&) = delete;
  Users& operator=(const Users&) = delete;

  // The database of `config`; throws what store::UserDb throws when it cannot be opened.
  std::shared_ptr<store::UserDb> open(const config::Config& config);

 private:
  std::mutex mutex_;
  std::filesystem::path path_;
  std::shared_ptr<store::UserDb> db_;
};

}  // namespace postern::admission
