// Mailpit's search syntax (its /api/v1/search?query=, the testbed's search
// box), I/O-free: a query string in, terms out; a term list and an indexed
// message in, match or not. As Mailpit reads it:
// * words split at spaces; "quoted phrases" are one word (quotes dropped);
// * a word starting with `-` or `!` is negated;
// * `to:` `from:` `cc:` `bcc:` `reply-to:` `addressed:` (any of those)
//   match a part of a display name or address, `subject:` and
//   `message-id:` a part of it, `tag:` a whole tag, all ignoring case;
// * `inbox:ADDR` (the testbed's own): the message is in that inbox;
// * `is:read` `is:unread` `is:tagged` `has:attachment(s)` `has:inline(s)`;
// * `after:DATE` `before:DATE` (received at or after / at or before;
//   YYYY-MM-DD, YYYY/MM/DD, optionally with [T]HH:MM[:SS][.frac], Z or
//   ±HH:MM; UTC when no offset is given; or Unix seconds);
// * `larger:SIZE` `smaller:SIZE` (bytes, or with k/kb, m/mb);
// * anything else is looked for in the text (addresses, subject, body,
//   file names).
// Every term must match. Unlike Mailpit, a date it cannot read is an
// error (std::invalid_argument) instead of a term silently ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "testbed/messages.hpp"

namespace postern::testbed {

struct SearchTerm {
  enum class Kind {
    text, to, from, cc, bcc, reply_to, addressed, subject, message_id, tag,
    inbox, is_read, is_unread, is_tagged, has_attachment, has_inline, after, before, larger, smaller
  };
  Kind kind = Kind::text;
  bool exclude = false;
  std::string value;  // lower case (text, addresses, subject, message-id, tag)
  std::chrono::system_clock::time_point time{};  // after, before
  std::uint64_t size = 0;                        // larger, smaller
};

struct SearchQuery {
  std::vector<SearchTerm> terms;
  bool empty() const { return terms.empty(); }
};

// Bounds on what a client may ask for.
constexpr std::size_t max_query_octets = 4096;
constexpr std::size_t max_query_terms = 32;  // different ones: a repeated term counts once

// Throws std::invalid_argument (a message for the client) for a query
// past the bounds or a date that cannot be read.
SearchQuery parse_search(std::string_view query);

// Mailpit's word splitting: spaces outside double quotes; quotes removed.
std::vector<std::string> search_words(std::string_view query);

// nullopt when `text` is no date this syntax knows.
std::optional<std::chrono::system_clock::time_point> parse_search_date(std::string_view text);

// "2kb" → 2048; 0 when it is no size.
std::uint64_t parse_search_size(std::string_view text);

bool matches(const SearchQuery& query, const MessageSummary& message);

}  // namespace postern::testbed
