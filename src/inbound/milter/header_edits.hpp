// The header section as filters see and change it, without I/O: split into
// fields (each kept as written, folding included), the value a filter is
// sent, and the filters' add, insert, change and delete applied in order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inbound/milter/protocol.hpp"

namespace postern::milter {

struct HeaderField {
  std::string name;  // as written
  std::string raw;   // the whole field as written, "Name: value\r\n" with its folds
};

struct HeaderSection {
  std::vector<HeaderField> fields;
  // Octets of the message the fields take, plus the empty line when found.
  std::size_t consumed = 0;
  bool blank_line = false;  // the empty line that ends the section was found
};

// Reads the header section at the start of `message` (CRLF lines). It ends
// at the empty line, at a line that is not a field (then the body starts
// there), or at the last complete line of `message` when there is no end.
HeaderSection split_header_section(std::string_view message);

// The value a filter is sent: the text after the colon with folds as "\n"
// (Sendmail's form), one leading space removed unless `leading_space`.
std::string field_value(const HeaderField& field, bool leading_space);

// A change as a filter asked for it; `leading_space`: the filter
// negotiated SMFIP_HDR_LEADSPC (its value carries its own leading blank).
struct HeaderEdit {
  HeaderChange change;
  bool leading_space = false;
};

// Applies one change. insert: at `index` among all fields (0 = first; past
// the end appends); change: the index-th field of that name (1 = first; an
// empty value deletes it; past the last one, a non-empty value is added at
// the end), not counting the field at `hidden` (our own Received:, which
// filters are not shown, as under Postfix).
void apply_edit(std::vector<HeaderField>& fields, const HeaderEdit& edit, std::size_t hidden = std::size_t(-1));

// The field a filter's name and value make: "\n" in the value becomes a
// CRLF fold, a line that would not be a fold gets a leading tab.
HeaderField make_field(std::string_view name, std::string_view value, bool leading_space);

// The fields joined again, with the empty line when `blank_line`.
std::string join(const std::vector<HeaderField>& fields, bool blank_line);

}  // namespace postern::milter
