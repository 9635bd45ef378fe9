// RFC 6376 §3.4.2 and §3.4.4: the "relaxed" canonicalization of header
// fields and of the body, and the split of a message into fields. Lines
// may end in CRLF or a bare LF (read as CRLF).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::dkim {

struct Field {
  std::string name;  // as written
  std::string raw;   // the whole field with its folded lines, CRLF line ends
};

struct SplitMessage {
  std::vector<Field> fields;
  std::string_view body;  // after the empty line; "" when there is none
};

SplitMessage split(std::string_view message);

// "name:value\r\n": the name lower-cased, the value unfolded, runs of
// white space as one space, none around the colon or at the end.
std::string relaxed_header(std::string_view raw_field);

// Runs of white space as one space, none at line ends, no empty lines at
// the end, CRLF after every line; the empty body stays empty.
std::string relaxed_body(std::string_view body);

}  // namespace postern::dkim
