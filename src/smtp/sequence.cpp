#include "smtp/sequence.hpp"

#include <array>

#include "smtp/replies.hpp"

namespace postern::smtp {

namespace {

// In Verb order.
constexpr std::array<CommandRule, 14> table = {{
    // verb          greet  tx     rcpt   !tx    !bdat  ends group
    {Verb::ehlo,     false, false, false, false, false, true},
    {Verb::helo,     false, false, false, false, false, true},
    {Verb::mail,     true,  false, false, true,  false, false},
    {Verb::rcpt,     false, true,  false, false, true,  false},
    {Verb::data,     false, true,  true,  false, true,  true},
    {Verb::bdat,     false, true,  true,  false, false, false},
    {Verb::rset,     false, false, false, false, false, false},
    {Verb::noop,     false, false, false, false, false, true},
    {Verb::quit,     false, false, false, false, false, true},
    {Verb::vrfy,     false, false, false, false, false, true},
    {Verb::expn,     false, false, false, false, false, true},
    {Verb::help,     false, false, false, false, false, true},
    {Verb::starttls, false, false, false, false, false, true},
    {Verb::auth,     false, false, false, false, false, true},
}};
constexpr bool in_verb_order() {
  for (std::size_t i = 0; i < table.size(); ++i)
    if (static_cast<std::size_t>(table[i].verb) != i) return false;
  return table.size() == static_cast<std::size_t>(Verb::auth) + 1;
}
static_assert(in_verb_order(), "one rule per verb, in Verb order");

}  // namespace

const CommandRule& rule(Verb verb) { return table[static_cast<std::size_t>(verb)]; }

std::optional<Reply> sequence_refusal(Verb verb, const DialogueState& s) {
  const CommandRule& r = rule(verb);
  // The order of the checks is the order of the replies a client sees first.
  switch (verb) {
    case Verb::auth:
      // RFC 4954 §4: once per session, never inside a transaction, after EHLO.
      if (s.authenticated) return replies::already_authenticated();
      if (s.in_transaction) return replies::auth_in_transaction();
      if (!s.esmtp) return replies::ehlo_first();
      return std::nullopt;
    case Verb::starttls:
      if (s.tls) return replies::already_tls();
      if (!s.starttls_offered) return replies::starttls_not_offered();
      return std::nullopt;
    case Verb::bdat:
      // Later chunks belong to the transaction the first one opened.
      if (s.in_bdat) return std::nullopt;
      break;
    default:
      break;
  }
  if (r.not_during_bdat && s.in_bdat)
    return replies::bad_sequence(verb == Verb::rcpt ? "RCPT not allowed during BDAT" : "DATA not allowed after BDAT");
  if (r.needs_greeting && !s.greeted) return replies::bad_sequence("Send EHLO or HELO first");
  if (r.not_in_transaction && s.in_transaction) return replies::bad_sequence("Nested MAIL command");
  if (r.needs_transaction && !s.in_transaction)
    return replies::bad_sequence(verb == Verb::rcpt ? "Need MAIL before RCPT" : "Need MAIL command");
  // RFC 2920 §3.1: DATA after no accepted recipient gets 554.
  if (r.needs_recipient && !s.has_recipients) return replies::no_valid_recipients();
  return std::nullopt;
}

}  // namespace postern::smtp
