// Reading RFC 5322 / MIME messages with GMime (never by hand): decoded
// headers, the text and HTML parts, attachments, and the addresses of the
// To, Cc and Bcc fields. Used by the testbed's API and `postern sendmail -t`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::mime {

struct Attachment {
  std::string filename;
  std::string content_type;
  std::uint64_t size = 0;  // decoded octets
  std::string part_id;     // its place in the MIME tree, as IMAP numbers sections: "2", "1.2"
  std::string content_id;  // without <>; "" if none
  bool inline_part = false;  // shown in the body (Content-ID, not disposition "attachment")
};

// A mailbox of an address header field: display name (decoded) and addr-spec.
struct Mailbox {
  std::string name;
  std::string address;
};

struct ParsedMessage {
  std::string subject;
  std::vector<std::pair<std::string, std::string>> headers;  // decoded values, in order
  std::string text;  // the first text/plain part that is not an attachment (LF line ends);
                     // without one, the HTML part's text (html_text.hpp), as Mailpit's Text
  std::string html;  // the first text/html part that is not an attachment
  std::vector<Attachment> attachments;  // inline parts too (Attachment::inline_part)
  std::string message_id;  // Message-ID: without <>
  std::optional<std::int64_t> date;  // Date:, Unix seconds
  std::vector<Mailbox> from, to, cc, bcc, reply_to;
};

// One leaf part by its Attachment::part_id, decoded.
struct PartContent {
  std::string content_type;
  std::string filename;
  std::string bytes;
  std::string charset;  // the Content-Type's charset parameter, as written ("" without one)
};

// Never throws; a message GMime cannot read gives empty fields.
ParsedMessage parse_message(std::string_view bytes);

// The part `part_id` names (a text part too); nullopt when there is none.
std::optional<PartContent> part_content(std::string_view bytes, std::string_view part_id);
// Every leaf part by its part id, decoded, in one reading.
std::vector<std::pair<std::string, PartContent>> leaf_parts(std::string_view bytes);

// The addresses (addr-spec, groups expanded) of every To, Cc and Bcc field.
std::vector<std::string> header_recipients(std::string_view bytes);

// The addresses of the From: field (RFC 5322 allows several).
std::vector<std::string> from_addresses(std::string_view bytes);

// The message without its Bcc and Resent-Bcc fields (folded continuation
// lines included; "Bcc :" as well).
std::string without_bcc(std::string_view bytes);

}  // namespace postern::mime
