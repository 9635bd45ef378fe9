#include "delivery/maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "store/durable_file.hpp"

namespace postern::delivery {
using namespace store;  // the durable-file primitives and the spool this layer builds on
namespace {

std::string escaped_hostname() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) return "localhost";
  std::string out;
  for (const char* p = host; *p; ++p) {
    if (*p == '/') out += "\\057";
    else if (*p == ':') out += "\\072";
    else out += *p;
  }
  return out;
}

void make_dir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw IoError(errno, "mkdir " + dir.string());
}

long long seconds_of(const Envelope& e) {
  return std::chrono::duration_cast<std::chrono::seconds>(e.received_at.time_since_epoch()).count();
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The names under sub/ that begin with `prefix`, as "sub/<name>".
void matching(const std::filesystem::path& root, const char* sub, std::string_view prefix,
              std::vector<std::string>& out) {
  DIR* d = ::opendir((root / sub).c_str());
  if (!d) return;
  while (auto* ent = ::readdir(d))
    if (starts_with(ent->d_name, prefix)) out.push_back(std::string(sub) + "/" + ent->d_name);
  ::closedir(d);
}

bool same_content(const std::filesystem::path& path, std::string_view head, std::string_view body) {
  try {
    const std::string got = read_file(path);
    return got.size() == head.size() + body.size() && got.compare(0, head.size(), head) == 0 &&
           got.compare(head.size(), std::string::npos, body) == 0;
  } catch (const IoError&) {
    return false;
  }
}

// The copy found is kept: its bytes and its name are made durable, as a
// delivery of ours would have made them (the first attempt may have
// crashed before its fsyncs).
void make_durable(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    Fd f(fd);
    fsync_fd(fd, path);
  }
  fsync_dir(path.parent_path());
}

}  // namespace

void ensure_maildir(const std::filesystem::path& root) {
  struct stat st{};
  // The common case: a mailbox that exists costs one stat.
  if (::stat((root / "cur").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
  create_directories_durably(root);
  make_dir(root / "tmp");
  make_dir(root / "new");
  make_dir(root / "cur");
  // tmp/new/cur themselves must survive a crash along with the first message.
  fsync_dir(root);
}

const std::string& maildir_host() {
  static const std::string host = escaped_hostname();
  return host;
}

std::string maildir_fixed_prefix(const Envelope& envelope, std::string_view queue_id, std::size_t recipient) {
  return std::to_string(seconds_of(envelope)) + ".Q" + std::string(queue_id) + "R" + std::to_string(recipient) + ".";
}

std::string maildir_fixed_name(const Envelope& envelope, std::string_view queue_id, std::size_t recipient,
                               std::size_t size) {
  return maildir_fixed_prefix(envelope, queue_id, recipient) + maildir_host() + ",S=" + std::to_string(size);
}

MaildirListing maildir_list(const std::filesystem::path& root) {
  MaildirListing l;
  std::vector<std::string> all;
  for (const char* sub : {"new", "cur"}) matching(root, sub, "", all);
  l.names.insert(all.begin(), all.end());
  return l;
}

Placed maildir_deliver_once(const std::filesystem::path& root, const std::string& prefix, const std::string& name,
                            std::string_view head, std::string_view body, MaildirListing* listing) {
  std::vector<std::string> found;
  for (const char* sub : {"new", "cur"}) {
    if (!listing) {
      matching(root, sub, prefix, found);
      continue;
    }
    const std::string key = std::string(sub) + "/" + prefix;
    for (auto it = listing->names.lower_bound(key); it != listing->names.end() && starts_with(*it, key); ++it)
      found.push_back(*it);
  }
  for (const auto& rel : found) {
    const auto path = root / rel;
    if (same_content(path, head, body)) {
      make_durable(path);
      return Placed::kept;
    }
    // Torn by a crash: gone for good (not back beside the good copy after
    // another one), then written again below.
    ::unlink(path.c_str());
    fsync_dir(path.parent_path());
    if (listing) listing->names.erase(rel);
  }
  ensure_maildir(root);
  const auto tmp = root / "tmp" / name;
  ::unlink(tmp.c_str());  // left by an attempt that crashed before its rename
  write_new_synced(tmp, {head, body}, 0600);
  try {
    rename_file(tmp, root / "new" / name);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(root / "new");
  if (listing) listing->names.insert("new/" + name);
  return Placed::written;
}

std::uint64_t maildir_size(const std::filesystem::path& root) {
  std::uint64_t total = 0;
  for (const char* sub : {"new", "cur"}) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(root / sub, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      std::error_code sec;
      auto n = it->file_size(sec);
      if (!sec) total += n;
    }
  }
  return total;
}

}  // namespace postern::delivery
