// Base64 (RFC 4648 §4) as SMTP AUTH uses it (RFC 4954 §4): the standard
// alphabet, padded, no line breaks. Decoding is strict: any byte outside the
// alphabet, missing or misplaced padding, or non-zero unused bits is an
// error (the session answers 501 5.5.2), so one string has one meaning.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::sasl {

std::string base64_encode(std::string_view bytes);

// The decoded bytes, or nullopt when `text` is not canonical base64.
// The empty string decodes to the empty string.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace postern::sasl
