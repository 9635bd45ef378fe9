#include "server/privileges.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace postern::server {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

// chown -R without ever following a symbolic link: every directory is
// opened relative to its parent's descriptor with O_NOFOLLOW, every entry
// changed with fchownat(AT_SYMLINK_NOFOLLOW). A link the (unprivileged)
// owner plants in the tree, even one swapped in during the walk, is
// changed itself, never what it points to.
void chown_tree(int dir_fd, const std::string& shown, uid_t uid, gid_t gid, int depth) {
  if (depth > 64) return;  // no mail layout nests this deep
  if (::fchown(dir_fd, uid, gid) != 0) fail("chown " + shown);
  DIR* d = ::fdopendir(::dup(dir_fd));
  if (!d) fail("opendir " + shown);
  while (auto* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      try {
        chown_tree(fd, shown + "/" + name, uid, gid, depth + 1);
      } catch (...) {
        ::close(fd);
        ::closedir(d);
        throw;
      }
      ::close(fd);
      continue;
    }
    // Not a directory (or a link to one): the entry itself.
    if (::fchownat(dir_fd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
      ::closedir(d);
      fail("chown " + shown + "/" + name);
    }
  }
  ::closedir(d);
}

}  // namespace

bool drop_privileges(const std::string& user, const std::filesystem::path& data_dir) {
  if (::geteuid() != 0) return true;
  if (user.empty()) return false;
  struct passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw std::runtime_error("user \"" + user + "\" does not exist");
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  if (uid == 0) throw std::runtime_error("user \"" + user + "\" is root; choose an unprivileged user");

  // The data dir (tls/ included, so SIGHUP can re-read the certificate)
  // must be the user's after the drop.
  int fd = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail("open " + data_dir.string());
  try {
    chown_tree(fd, data_dir.string(), uid, gid, 0);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);

  if (::setgroups(0, nullptr) != 0 || ::initgroups(pw->pw_name, gid) != 0) fail("setgroups");
  if (::setgid(gid) != 0) fail("setgid");
  if (::setuid(uid) != 0) fail("setuid");
  // A real drop cannot be undone.
  if (::setuid(0) == 0) throw std::runtime_error("privileges could be regained after setuid");
  return true;
}

}  // namespace postern::server
