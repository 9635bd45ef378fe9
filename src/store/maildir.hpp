// Maildir delivery (https://cr.yp.to/proto/maildir.html, as Dovecot reads
// it): a message is written under tmp/ with a unique name, fsynced, renamed
// into new/, and new/ is fsynced, so a delivered message is on stable
// storage before the spool forgets it. Bytes are stored as given (the
// caller adds Return-Path:); Dovecot reads CRLF and LF files alike.
//
// Unique names: <seconds>.M<microseconds>P<pid>Q<counter>.<host>,S=<size>
// where <host> has '/' and ':' escaped as \057 and \072 and S= is the file
// size in octets (Dovecot uses it to skip a stat).
// Thread-safe. Errors throw store::IoError; nothing is left in tmp/.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace postern::store {

// Creates root/{tmp,new,cur} (mode 0700) if missing.
void ensure_maildir(const std::filesystem::path& root);

// This host's name as Maildir file names carry it ('/' → \057, ':' → \072).
const std::string& maildir_host();

// A fresh unique file name for a message of `size` octets.
std::string maildir_unique_name(std::size_t size);

// Delivers `bytes` into root/new/ and returns the new file's path.
std::filesystem::path maildir_deliver(const std::filesystem::path& root, std::string_view bytes);
// The same for `head` followed by `body` (a Return-Path: line and the spooled message), without joining them.
std::filesystem::path maildir_deliver(const std::filesystem::path& root, std::string_view head, std::string_view body);

// Total octets of the files in new/ and cur/ (for quota checks).
std::uint64_t maildir_size(const std::filesystem::path& root);

}  // namespace postern::store
