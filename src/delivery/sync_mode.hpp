// Which sync proves that a mailbox file is on stable storage. By default
// (and always with mailbox_sync = "fsync") each file and the directory
// that names it are synced (delivery/mailbox_sync.hpp). mailbox_sync =
// "syncfs" asks for one syncfs(2) per round instead: it flushes the whole
// file system, every other program's dirty pages included (a backup, a
// log, a database on the same disk make each round wait for them), and on
// FUSE and network file systems (s3fs, sshfs, NFS, CIFS, 9p, Ceph...) it
// returns 0 without asking the server or the FUSE daemon to flush
// anything: "syncfs" is for a local file system Postern has to itself.
// The file system is read with statfs(2) f_type, for the start-up log.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace postern::delivery {

enum class SyncMode { syncfs, fsync };

std::string_view to_string(SyncMode mode);

// A file system type (statfs f_type): its name ("ext4", "fuse", "nfs"...,
// or "0x<hex>" when unknown), and whether syncfs is no proof there (an
// unknown type counts as such: per-file fsync is right everywhere).
struct FileSystemKind {
  std::string name;
  bool per_file_sync = false;
};
FileSystemKind classify_file_system(long long f_type);

// The kind of the file system holding `path` (or its nearest existing
// parent). nullopt when statfs fails.
std::optional<FileSystemKind> file_system_of(const std::filesystem::path& path);

// The mode for a file system of kind `kind` under the configured
// `mailbox_sync`: fsync, unless syncfs is asked for.
SyncMode sync_mode_for(config::MailboxSync policy, const FileSystemKind& kind);

}  // namespace postern::delivery
