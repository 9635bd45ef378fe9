// The text of an HTML body, for a message that has no text/plain part:
// what Mailpit shows as `Text` there (its parser down-converts HTML). Parsed
// with libxml2's HTML parser (no network, errors recovered); scripts, styles
// and the head are left out, blocks and <br> become line ends, whitespace
// collapses as a browser collapses it (kept in <pre>), and a link reads
// "text ( URL )" when its URL is not its text.
#pragma once

#include <string>
#include <string_view>

namespace postern::mime {

// LF line ends, no trailing whitespace; "" for input with no text. Reads at
// most the first 4 MiB of `html`.
std::string html_to_text(std::string_view html);

}  // namespace postern::mime
