// The sync round for Maildir files written without an fsync of their own
// (delivery/direct_delivery.hpp): it makes a batch of them, and the
// directories that name them, durable, without touching anything else on
// the file system (unlike syncfs(2), which also flushes every other
// program's dirty pages there).
//
// In order: writeback of every file of the batch is started at once
// (sync_file_range, SYNC_FILE_RANGE_WRITE), then each file is fdatasynced
// and each directory that names one is fsynced. The kernel writes the
// files' data together and their block allocations land in the same few
// journal commits (ext4, XFS), so after the first fdatasync most of the
// others find nothing left to commit. On a file system without
// sync_file_range (it is only a hint) the fdatasyncs do it all.
//
// A file is looked for in new/, then in cur/ (a reader such as Dovecot may
// have moved it there and added flags; then cur/ is the directory that is
// fsynced). A file in neither was expunged already: nothing to keep.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace postern::delivery {

struct MailboxFile {
  std::filesystem::path mailbox;  // Maildir root
  std::string name;               // as renamed into new/
};

// Throws store::IoError for the first file or directory that fails to
// sync (the caller keeps the batch in the journal; nothing is retried here).
void sync_mailbox_files(const std::vector<MailboxFile>& files);

}  // namespace postern::delivery
