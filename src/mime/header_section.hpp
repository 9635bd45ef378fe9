// The header section of a message as local submission reads it (RFC 5322
// §2.2, §3.6, and §4.5's obsolete "name WSP :" form), without GMime: which
// line is a header field and of which name, where the body starts, and
// the Bcc and Resent-Bcc fields a submission removes. Lines end in CRLF
// or LF.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::mime {

// The field name of a header field line ("Bcc : x" → "Bcc"), or nullopt
// when the line is no header field (no colon after a name of printable
// ASCII, or white space inside the name).
std::optional<std::string_view> field_name(std::string_view line);

// The header fields as written (encoded words left alone), each value
// unfolded (one space where each fold was) and trimmed, in order.
std::vector<std::pair<std::string, std::string>> header_fields(std::string_view message);

// Whether the header section has a field named `name` (case-insensitive).
bool has_field(std::string_view message, std::string_view name);

// The message with the empty line that ends its header section where the
// header section ends: a message that starts with a body line, or whose
// header fields are followed directly by one, gets it before that line,
// as Postfix's cleanup does; otherwise the message is unchanged.
std::string with_body_separator(std::string message);

}  // namespace postern::mime
