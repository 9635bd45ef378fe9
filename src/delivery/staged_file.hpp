// A Maildir message file written and not yet in new/. Where the file
// system allows (O_TMPFILE: ext4, XFS, Btrfs, tmpfs...), it is written as
// an unnamed file of new/'s file system and given its name in new/ with
// linkat(2) once it is complete: no tmp/ entry to make, no rename (a
// cross-directory rename takes a lock of the whole file system in the
// kernel), and a crash before the link leaves nothing at all. Elsewhere it
// is written under tmp/ and renamed into new/, as the Maildir convention
// says. Either way a reader never sees a partial file in new/.
//
// Not synced here: the caller's journal holds the message until a sync
// round covers the file (delivery/direct_delivery.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "store/durable_file.hpp"

namespace postern::delivery {

class StagedFile {
 public:
  StagedFile() = default;
  StagedFile(StagedFile&& o) noexcept
      : fd_(std::move(o.fd_)), tmp_(std::exchange(o.tmp_, {})), final_(std::move(o.final_)) {}
  StagedFile& operator=(StagedFile&& o) noexcept {
    discard();
    fd_ = std::move(o.fd_);
    tmp_ = std::exchange(o.tmp_, {});
    final_ = std::move(o.final_);
    return *this;
  }
  ~StagedFile() { discard(); }

  // Writes `head` + `body` for mailbox/new/`name`. `unnamed` says whether
  // to try O_TMPFILE; when the file system refuses it, `unnamed` is set to
  // false (remember it for the mailbox) and tmp/ is used. Throws
  // store::IoError; then nothing is left.
  static StagedFile write(const std::filesystem::path& mailbox, const std::string& name, std::string_view head,
                          std::string_view body, bool& unnamed);

  // Gives the file its name in new/. Throws store::IoError (EEXIST when
  // the name is taken); the file is then still staged.
  void publish();
  // Removes what was written, unless published.
  void discard();

  const std::filesystem::path& final_path() const { return final_; }
  bool unnamed() const { return static_cast<bool>(fd_); }

 private:
  store::Fd fd_;                // the unnamed file, until linked
  std::filesystem::path tmp_;   // the named one under tmp/, until renamed
  std::filesystem::path final_;
};

}  // namespace postern::delivery
