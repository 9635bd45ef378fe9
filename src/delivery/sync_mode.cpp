#include "delivery/sync_mode.hpp"

#include <sys/vfs.h>

#include <cstdio>

namespace postern::delivery {
namespace {

struct Known {
  unsigned long long magic;
  std::string_view name;
  bool per_file_sync;
};

// From linux/magic.h and the file systems' own headers. FUSE covers s3fs,
// sshfs, rclone, virtiofs, GlusterFS and every other FUSE file system.
constexpr Known known[] = {
    {0xEF53, "ext4", false},          {0x58465342, "xfs", false},      {0x9123683E, "btrfs", false},
    {0x01021994, "tmpfs", false},     {0x2FC12FC1, "zfs", false},      {0xF2F52010, "f2fs", false},
    {0x794C7630, "overlayfs", false}, {0x3153464A, "jfs", false},      {0x52654973, "reiserfs", false},
    {0x4D44, "vfat", false},          {0x2011BAB0, "exfat", false},    {0xCA451A4E, "bcachefs", false},
    {0x65735546, "fuse", true},       {0x6969, "nfs", true},           {0xFF534D42, "cifs", true},
    {0xFE534D42, "smb2", true},       {0x517B, "smb", true},           {0x01021997, "9p", true},
    {0x00C36400, "ceph", true},       {0x5346414F, "afs", true},       {0x6B414653, "afs", true},
    {0x73757245, "coda", true},       {0x564C, "ncp", true},           {0x0BD00BD0, "lustre", true},
    {0x01161970, "gfs2", true},       {0x7461636F, "ocfs2", true},     {0x47504653, "gpfs", true},
    {0x19830326, "fhgfs", true},      {0xAAD7AAEA, "panfs", true},     {0x13661366, "orangefs", true},
};

}  // namespace

std::string_view to_string(SyncMode mode) { return mode == SyncMode::syncfs ? "syncfs" : "fsync"; }

FileSystemKind classify_file_system(long long f_type) {
  // f_type is a signed word on some ABIs: compare the low 32 bits.
  const auto magic = static_cast<unsigned long long>(f_type) & 0xFFFFFFFFull;
  for (const auto& k : known)
    if (k.magic == magic) return {std::string(k.name), k.per_file_sync};
  char hex[24];
  std::snprintf(hex, sizeof hex, "0x%llx", magic);
  return {hex, true};
}

std::optional<FileSystemKind> file_system_of(const std::filesystem::path& path) {
  auto p = path;
  for (;;) {
    struct statfs st{};
    if (::statfs(p.c_str(), &st) == 0) return classify_file_system(static_cast<long long>(st.f_type));
    if (!p.has_parent_path() || p.parent_path() == p) return std::nullopt;
    p = p.parent_path();
  }
}

SyncMode sync_mode_for(config::MailboxSync policy, const FileSystemKind& kind) {
  switch (policy) {
    case config::MailboxSync::syncfs: return SyncMode::syncfs;
    case config::MailboxSync::fsync: return SyncMode::fsync;
    case config::MailboxSync::automatic: break;
  }
  // syncfs waits for every other program's dirty pages too, and proves
  // nothing on FUSE and network file systems: the files themselves are
  // synced, everywhere.
  (void)kind;
  return SyncMode::fsync;
}

}  // namespace postern::delivery
