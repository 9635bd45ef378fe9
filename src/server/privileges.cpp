#include "server/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <stdexcept>
#include <system_error>

namespace postern::server {

bool drop_privileges(const std::string& user, const std::filesystem::path& data_dir) {
  if (::geteuid() != 0) return true;
  if (user.empty()) return false;
  struct passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw std::runtime_error("user \"" + user + "\" does not exist");
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  if (uid == 0) throw std::runtime_error("user \"" + user + "\" is root; choose an unprivileged user");

  // The data dir must be writable after the drop; the TLS key stays root's.
  std::error_code ec;
  auto own = [&](const std::filesystem::path& p) {
    if (::lchown(p.c_str(), uid, gid) != 0) throw std::system_error(errno, std::generic_category(), "chown " + p.string());
  };
  own(data_dir);
  for (auto it = std::filesystem::recursive_directory_iterator(data_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename() == "tls") {
      it.disable_recursion_pending();
      continue;
    }
    own(it->path());
  }

  if (::setgroups(0, nullptr) != 0 || ::initgroups(pw->pw_name, gid) != 0)
    throw std::system_error(errno, std::generic_category(), "setgroups");
  if (::setgid(gid) != 0) throw std::system_error(errno, std::generic_category(), "setgid");
  if (::setuid(uid) != 0) throw std::system_error(errno, std::generic_category(), "setuid");
  // A real drop cannot be undone.
  if (::setuid(0) == 0) throw std::runtime_error("privileges could be regained after setuid");
  return true;
}

}  // namespace postern::server
