// RFC 5321 §4.1.2 paths and mailboxes, with the SMTPUTF8 extension of
// RFC 6531 §3.3 (UTF-8 in atoms, quoted strings and domain labels).
// Pure parsing: what a path means for delivery (local or relayed, user
// exists) is decided by the server's checks, not here. Source routes are
// kept, not dropped, so the relay rule can see and refuse them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp {

struct Mailbox {
  std::string local_part;  // decoded: no quotes, quoted-pairs resolved
  bool quoted = false;     // written as a Quoted-string
  std::string domain;      // as written; an address literal keeps its brackets
  bool address_literal = false;

  // Canonical text "local@domain", quoting the local part when it is not a Dot-string.
  std::string str() const;
  // True when the mailbox holds octets above 127 (needs SMTPUTF8).
  bool utf8() const;
};

struct Path {
  bool null = false;        // "<>" (reverse-path only)
  bool postmaster = false;  // "<Postmaster>" without a domain (forward-path only)
  std::vector<std::string> source_route;  // "@a,@b:" as ["a", "b"]; obsolete (RFC 5321 §4.1.2, C.)
  Mailbox mailbox;          // empty when null or postmaster

  // "local@domain", "" for the null path, "postmaster" for bare postmaster.
  std::string str() const;
};

struct PathParse {
  std::optional<Path> path;  // set on success
  std::size_t consumed = 0;  // octets of input used (through the closing '>')
  std::string error;         // why not, for the reply text (set on failure)
};

// Parses "<...>" at the start of `text`; what follows is left to the caller
// (MAIL/RCPT parameters). UTF-8 is accepted here; the caller checks that
// SMTPUTF8 was given when Mailbox::utf8() is true. Length limits of
// RFC 5321 §4.5.3.1 apply: local part 64, domain 255, path 256 octets.
PathParse parse_path(std::string_view text);

// Dot-string or Quoted-string checks, exposed for tests and the DATA side.
bool is_dot_string(std::string_view local_part);
bool is_domain(std::string_view domain);

// RFC 3461 §4 xtext ("+XX" hex escapes), as in MAIL AUTH=. nullopt if malformed.
std::optional<std::string> decode_xtext(std::string_view xtext);

}  // namespace postern::smtp
