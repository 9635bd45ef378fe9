// The server's fixed replies, in one place (SPEC §5; codes from RFC 5321
// §4.2.2, enhanced codes from RFC 3463 and the IANA registry). Texts are
// for people; keep configuration details out of them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"

namespace postern::smtp::replies {

inline Reply greeting(const std::string& hostname) { return {220, "", hostname + " ESMTP Postern"}; }
inline Reply ok() { return {250, "2.0.0", "OK"}; }
inline Reply sender_ok() { return {250, "2.1.0", "Sender OK"}; }
inline Reply recipient_ok() { return {250, "2.1.5", "Recipient OK"}; }
inline Reply reset_ok() { return {250, "2.0.0", "Reset OK"}; }
inline Reply noop_ok() { return {250, "2.0.0", "OK"}; }
inline Reply queued(const std::string& queue_id) { return {250, "2.0.0", "OK queued as " + queue_id}; }
inline Reply chunk_received(std::uint64_t octets) { return {250, "2.0.0", std::to_string(octets) + " octets received"}; }
inline Reply start_data() { return {354, "", "End data with <CR><LF>.<CR><LF>"}; }
inline Reply ready_for_tls() { return {220, "2.0.0", "Ready to start TLS"}; }
inline Reply bye() { return {221, "2.0.0", "Bye"}; }
inline Reply vrfy() { return {252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"}; }
inline Reply help() {
  return {214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH"};
}

inline Reply line_too_long() { return {500, "5.5.2", "Line too long"}; }
inline Reply auth_line_too_long() { return {500, "5.5.6", "Authentication exchange line is too long"}; }
inline Reply unrecognized() { return {500, "5.5.2", "Syntax error, command unrecognized"}; }
inline Reply nul_in_command() { return {500, "5.5.2", "Syntax error, NUL characters are not allowed"}; }
inline Reply syntax(std::string usage) { return {501, "5.5.4", "Syntax: " + std::move(usage)}; }
inline Reply bad_sender(const std::string& why) { return {501, "5.1.7", "Bad sender address syntax: " + why}; }
inline Reply bad_recipient(const std::string& why) {
  return {501, "5.1.3", "Bad recipient address syntax: " + why};
}
inline Reply bad_parameter(const std::string& why) { return {501, "5.5.4", "Invalid parameter: " + why}; }
inline Reply unknown_parameter(const std::string& name) {
  return {555, "5.5.4", "Unsupported parameter " + name};
}
inline Reply not_implemented() { return {502, "5.5.1", "Command not implemented"}; }
inline Reply bad_sequence(std::string why) { return {503, "5.5.1", std::move(why)}; }
inline Reply utf8_needs_smtputf8() { return {553, "5.6.7", "Non-ASCII address requires SMTPUTF8"}; }

inline Reply too_many_recipients() { return {452, "4.5.3", "Too many recipients"}; }
inline Reply message_too_big() { return {552, "5.3.4", "Message too big"}; }
inline Reply bare_cr_lf() { return {550, "5.6.0", "Bare CR or LF not allowed"}; }
inline Reply nul_in_message() { return {550, "5.6.0", "NUL characters not allowed"}; }
// As Postfix's smtpd_forbid_unauth_pipelining answers.
inline Reply protocol_synchronization() { return {554, "5.5.0", "Error: SMTP protocol synchronization"}; }
inline Reply relay_denied() { return {554, "5.7.1", "Relay access denied"}; }
inline Reply auth_required() { return {530, "5.7.0", "Authentication required"}; }
inline Reply tls_not_available() { return {454, "4.7.0", "TLS not available"}; }
inline Reply already_tls() { return {503, "5.5.1", "TLS already active"}; }
inline Reply starttls_not_offered() { return {502, "5.5.1", "STARTTLS not offered"}; }
inline Reply no_valid_recipients() { return {554, "5.5.1", "No valid recipients"}; }
// Our own trouble (disk, greylist or rate store): never the client's 5xx.
inline Reply local_error() { return {451, "4.3.0", "Local error in processing, try again later"}; }
inline Reply insufficient_storage() { return {452, "4.3.1", "Insufficient system storage"}; }
// RFC 5321 §6.3: more Received: fields than hops a message may take (a loop).
inline Reply too_many_hops() { return {554, "5.4.6", "Too many hops, mail loops"}; }
inline Reply no_such_user() { return {550, "5.1.1", "No such user"}; }
// SPEC §5: an mbox locked by another process, or a mailbox an admin locked.
inline Reply mailbox_unavailable() { return {450, "4.2.1", "Mailbox temporarily unavailable, try again later"}; }
inline Reply mailbox_full() { return {452, "4.2.2", "Mailbox full"}; }
// RFC 6647 greylisting and the per-client message rate.
inline Reply greylisted(long long wait_seconds) {
  return {450, "4.2.0", "Greylisted, try again in " + std::to_string(wait_seconds) + " seconds"};
}
inline Reply rate_limited() { return {450, "4.7.1", "Too many messages, try again later"}; }
inline Reply mailbox_disabled() { return {550, "5.2.1", "Mailbox disabled"}; }
// SPEC §11: an alias whose expansion comes back to itself (or never ends).
inline Reply alias_loop() { return {554, "5.4.6", "Alias loop detected"}; }
// A bounce address of ours (SRS, store/srs.hpp) that we did not make, or made too long ago.
inline Reply bad_srs_address() { return {550, "5.1.1", "Invalid or expired SRS address"}; }
// SPEC §11: an SRS address is where bounces come back; anything else sent to it would be relayed.
inline Reply srs_bounces_only() { return {550, "5.7.1", "SRS address accepts only bounces (MAIL FROM:<>)"}; }
// SPEC §11: an authenticated user's MAIL FROM must be an address of theirs.
inline Reply sender_not_owned() { return {553, "5.7.1", "Sender address rejected: not owned by user"}; }

// AUTH (RFC 4954 §6, SPEC §5). 334 carries the challenge in base64, no enhanced code.
inline Reply auth_challenge(std::string base64) { return {334, "", std::move(base64)}; }
inline Reply authenticated() { return {235, "2.7.0", "Authentication successful"}; }
inline Reply bad_credentials() { return {535, "5.7.8", "Authentication credentials invalid"}; }
inline Reply auth_cancelled() { return {501, "5.7.0", "Authentication cancelled"}; }
inline Reply cannot_decode() { return {501, "5.5.2", "Cannot decode response"}; }
inline Reply unknown_mechanism() { return {504, "5.5.4", "Unrecognized authentication type"}; }
inline Reply encryption_required() {
  return {538, "5.7.11", "Encryption required for requested authentication mechanism"};
}
inline Reply already_authenticated() { return {503, "5.5.1", "Already authenticated"}; }
inline Reply auth_in_transaction() { return {503, "5.5.1", "AUTH not permitted during a mail transaction"}; }
inline Reply ehlo_first() { return {503, "5.5.1", "Send EHLO first"}; }
inline Reply auth_syntax() { return {501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"}; }
inline Reply auth_temporary_failure() { return {454, "4.7.0", "Temporary authentication failure"}; }
inline Reply too_many_auth_failures() {
  return {421, "4.7.0", "Too many authentication failures, closing connection"};
}

inline Reply timeout() { return {421, "4.4.2", "Timeout, closing connection"}; }
inline Reply too_many_errors() { return {421, "4.7.0", "Too many errors, closing connection"}; }
inline Reply too_many_connections() { return {421, "4.7.0", "Too many connections, try again later"}; }
inline Reply shutting_down() { return {421, "4.3.2", "Service shutting down, try again later"}; }

}  // namespace postern::smtp::replies
