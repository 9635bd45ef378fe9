// mbox delivery (mailbox_format = "mbox"), locked the way procmail, mutt
// and Dovecot lock it: first a dotlock (<file>.lock, created with O_EXCL,
// considered stale and removed once older than `stale_after`), then an
// fcntl write lock on the mbox itself. If either lock is held by someone
// else, delivery does not wait: it reports `locked` and the caller keeps
// the message in the spool, deferred, and tries again later.
//
// Format (mboxrd): a "From <sender> <asctime UTC>" separator line, the
// message with CRLF turned into LF and every line matching ^>*From  given
// one more '>', and an empty line after it. The append is fsynced; if a
// write fails the file is truncated back to its old size, so a failed
// delivery leaves no partial message behind. A delivery of the same entry
// (same sender, time of receipt and message: a repeat after a crash) that
// finds it near the end of the file is not appended again.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace postern::delivery {

constexpr std::chrono::seconds default_dotlock_stale{300};

enum class MboxResult { delivered, locked };

// Appends one message (already carrying its Return-Path:) to `file`,
// creating it (and its directory) if missing. Throws store::IoError.
MboxResult mbox_deliver(const std::filesystem::path& file, std::string_view reverse_path, std::string_view message,
                        std::chrono::system_clock::time_point received_at,
                        std::chrono::seconds stale_after = default_dotlock_stale);

// True when another process holds the mbox's dotlock (not stale) or an
// fcntl lock on it. For the RCPT check (450 4.2.1). Never throws.
bool mbox_locked(const std::filesystem::path& file, std::chrono::seconds stale_after = default_dotlock_stale);

// The bytes appended for one message (exposed for tests).
std::string mbox_entry(std::string_view reverse_path, std::string_view message,
                       std::chrono::system_clock::time_point received_at);

}  // namespace postern::delivery
