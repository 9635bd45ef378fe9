#include "store/maildir.hpp"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "store/durable_file.hpp"

namespace postern::store {
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

std::string maildir_unique_name(std::size_t size) {
  const std::string& host = maildir_host();
  static std::atomic<unsigned long> counter{0};
  struct timeval tv{};
  ::gettimeofday(&tv, nullptr);
  return std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) + "P" + std::to_string(::getpid()) + "Q" +
         std::to_string(++counter) + "." + host + ",S=" + std::to_string(size);
}

std::filesystem::path maildir_deliver(const std::filesystem::path& root, std::string_view bytes) {
  return maildir_deliver(root, bytes, {});
}

std::filesystem::path maildir_deliver(const std::filesystem::path& root, std::string_view head, std::string_view body) {
  ensure_maildir(root);
  const std::string name = maildir_unique_name(head.size() + body.size());
  const auto tmp = root / "tmp" / name;
  const auto dest = root / "new" / name;
  write_new_synced(tmp, {head, body}, 0600);
  try {
    rename_file(tmp, dest);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(root / "new");
  return dest;
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

}  // namespace postern::store
