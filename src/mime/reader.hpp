// Reading RFC 5322 / MIME messages with GMime (never by hand): decoded
// headers, the text and HTML parts, attachments, and the addresses of the
// To, Cc and Bcc fields. Used by the testbed's API and `postern sendmail -t`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::mime {

struct Attachment {
  std::string filename;
  std::string content_type;
  std::uint64_t size = 0;  // decoded octets
};

struct ParsedMessage {
  std::string subject;
  std::vector<std::pair<std::string, std::string>> headers;  // decoded values, in order
  std::string text;  // the first text/plain part that is not an attachment (LF line ends)
  std::string html;  // the first text/html part that is not an attachment
  std::vector<Attachment> attachments;
};

// Never throws; a message GMime cannot read gives empty fields.
ParsedMessage parse_message(std::string_view bytes);

// The addresses (addr-spec, groups expanded) of every To, Cc and Bcc field.
std::vector<std::string> header_recipients(std::string_view bytes);

// The addresses of the From: field (RFC 5322 allows several).
std::vector<std::string> from_addresses(std::string_view bytes);

// The message without its Bcc and Resent-Bcc fields (folded continuation
// lines included; "Bcc :" as well).
std::string without_bcc(std::string_view bytes);

}  // namespace postern::mime
