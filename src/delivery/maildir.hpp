// Maildir delivery (https://cr.yp.to/proto/maildir.html, as Dovecot reads
// it): a message is written under tmp/, fsynced, renamed into new/, and
// new/ is fsynced, so a delivered message is on stable storage before the
// spool forgets it. Bytes are stored as given (the
// caller adds Return-Path:); Dovecot reads CRLF and LF files alike.
//
// Postern's own deliveries are exactly-once (maildir_deliver_once): each
// copy is named after what it is, not after the moment it was written,
//   <seconds received>.Q<queue id>R<recipient position>.<host>,S=<size>
// so a delivery repeated after a crash (the copy was written, the spool or
// journal had not yet recorded it) finds the first copy, in new/ or in cur/
// where a reader moved it, checks it octet for octet and keeps it.
// <host> has '/' and ':' escaped as \057 and \072 and S= is the file
// size in octets (Dovecot uses it to skip a stat).
// Thread-safe. Errors throw store::IoError; nothing is left in tmp/.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "store/envelope.hpp"

namespace postern::delivery {

using store::Envelope;

// Creates root/{tmp,new,cur} (mode 0700) if missing.
void ensure_maildir(const std::filesystem::path& root);

// This host's name as Maildir file names carry it ('/' → \057, ':' → \072).
const std::string& maildir_host();

// The fixed name of the copy of the message `queue_id` for the recipient
// at `recipient` in the envelope, `size` octets; and the part of it every
// copy shares, whatever the host, the size field or the flags a reader added.
std::string maildir_fixed_name(const Envelope& envelope, std::string_view queue_id, std::size_t recipient,
                               std::size_t size);
std::string maildir_fixed_prefix(const Envelope& envelope, std::string_view queue_id, std::size_t recipient);

// The names in new/ and cur/ of a mailbox ("new/<name>", "cur/<name>"),
// read once when many messages are checked against it (recovery).
struct MaildirListing {
  std::set<std::string> names;
};
MaildirListing maildir_list(const std::filesystem::path& root);

enum class Placed { kept, written };
// Exactly once: when the mailbox holds an intact copy of `head` + `body`
// under a name beginning with `prefix`, makes sure it is on stable storage
// and keeps it (`kept`); a torn one is removed; else writes it durably as
// new/<name> (tmp/, fsync, rename, fsync of new/) (`written`). With
// `listing` it looks there instead of reading the directories, and adds
// what it writes.
Placed maildir_deliver_once(const std::filesystem::path& root, const std::string& prefix, const std::string& name,
                            std::string_view head, std::string_view body, MaildirListing* listing = nullptr);

// Total octets of the files in new/ and cur/ (for quota checks).
std::uint64_t maildir_size(const std::filesystem::path& root);

}  // namespace postern::delivery
