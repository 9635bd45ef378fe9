#include "admission/users.hpp"

#include "store/users.hpp"

namespace postern::admission {

Users::Users() = default;
Users::~Users() = default;

std::shared_ptr<store::UserDb> Users::open(const config::Config& config) {
  std::lock_guard lock(mutex_);
  auto path = config.database_path();
  if (!db_ || path_ != path) {
    db_ = std::make_shared<store::UserDb>(path);
    path_ = path;
  }
  return db_;
}

}  // namespace postern::admission
