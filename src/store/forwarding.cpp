#include "store/forwarding.hpp"

#include "store/users.hpp"

namespace postern::store {

const Srs& Forwarding::srs(const config::Config& config) {
  std::lock_guard lock(mutex_);
  const auto file = config.data_dir / "srs.key";
  if (!srs_ || file != srs_file_) {
    srs_ = Srs::from_file(file);
    srs_file_ = file;
  }
  return *srs_;
}

Expansion Forwarding::expand(const config::Config& config, std::string_view address) {
  Aliases::Lookup lookup;
  lookup.is_local_domain = [&](std::string_view d) { return config.is_local_domain(d); };
  lookup.is_user = [&](std::string_view a) {
    if (!users_) return true;
    if (config.final_recipient(a) != a) return true;  // postmaster, handled by Config
    auto user = users_->get(a);
    return user.has_value();
  };
  lookup.srs_reverse = [&](std::string_view local_part) { return srs(config).reverse(local_part); };
  return aliases_.expand(config.aliases_file, address, lookup);
}

std::string Forwarding::forward_sender(const config::Config& config, std::string_view sender, std::string_view alias) {
  const auto at = sender.rfind('@');
  if (sender.empty() || at == std::string_view::npos || config.is_local_domain(sender.substr(at + 1)))
    return std::string(sender);
  return srs(config).forward(sender, alias.substr(alias.rfind('@') + 1));
}

}  // namespace postern::store
