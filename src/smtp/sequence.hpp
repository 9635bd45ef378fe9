// The command table (RFC 5321 §4.1.4 and §4.3.2, RFC 3030, RFC 3207,
// RFC 4954 §4, RFC 2920 §3.1): per command, what must have happened
// before it and whether the client waits for its reply, and the one
// function that says, from the dialogue's state alone, whether a command
// comes out of sequence and with which reply. No I/O: the server's
// session asks it, the tests read it.
#pragma once

#include <optional>
#include <string_view>

#include "smtp/command.hpp"
#include "smtp/reply.hpp"

namespace postern::smtp {

struct DialogueState {
  bool greeted = false;          // HELO or EHLO accepted
  bool esmtp = false;            // and it was EHLO
  bool tls = false;
  bool starttls_offered = false; // the listener speaks STARTTLS
  bool authenticated = false;
  bool in_transaction = false;   // MAIL accepted
  bool has_recipients = false;   // an RCPT accepted
  bool in_bdat = false;          // a BDAT chunk without LAST taken
};

struct CommandRule {
  Verb verb;
  bool needs_greeting = false;      // MAIL: after HELO/EHLO
  bool needs_transaction = false;   // RCPT, DATA, BDAT: after MAIL
  bool needs_recipient = false;     // DATA, BDAT: after an accepted RCPT
  bool not_in_transaction = false;  // MAIL: no nesting
  bool not_during_bdat = false;     // RCPT, DATA between BDAT chunks
  bool ends_group = false;          // RFC 2920 §3.1: the client waits for this reply
};
// AUTH (once, after EHLO, outside a transaction; RFC 4954 §4) and
// STARTTLS (once, where offered; RFC 3207) have rules of their own,
// in sequence_refusal().

// Every verb has a rule.
const CommandRule& rule(Verb verb);

// The reply for `verb` arriving in `state` out of sequence, or nullopt.
std::optional<Reply> sequence_refusal(Verb verb, const DialogueState& state);

}  // namespace postern::smtp
