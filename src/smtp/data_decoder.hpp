// The DATA phase decoder (RFC 5321 §4.1.1.4, §4.5.2). feed() takes raw
// bytes as they arrive and says how many it used; it stops right after the
// terminating <CRLF>.<CRLF>, leaving pipelined commands to the line reader.
//
// Defences: DATA ends ONLY on CRLF "." CRLF. A bare LF or bare CR
// anywhere is flagged (SPEC §5: 550 5.6.0), and since a line start needs
// a preceding CRLF, <LF>.<LF> and <LF>.<CR><LF> never end DATA: a
// receiver that ended there would let a client smuggle a second message
// past the next hop (CVE-2023-51764, SMTP smuggling). Errors stick to the
// message: the decoder keeps reading to the real terminator so the
// session replies once, in step (chasquid dotreader.go).
//
// Output: the message with leading dots removed (transparency), lines
// still ending in CRLF, without the terminator. Stops storing past
// max_octets but keeps counting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postern::smtp {

class DataDecoder {
 public:
  explicit DataDecoder(std::uint64_t max_octets) : max_(max_octets) {}

  // Consumes bytes up to and including the terminator; returns how many.
  std::size_t feed(std::string_view bytes);

  bool done() const { return state_ == State::done; }
  bool bare_cr_or_lf() const { return bare_; }
  bool too_big() const { return size_ > max_; }
  // Decoded octets seen (even past the cap).
  std::uint64_t size() const { return size_; }
  // The decoded message (meaningful when done and neither flag is set).
  const std::string& message() const { return out_; }
  std::string take_message() { return std::move(out_); }

 private:
  enum class State { line_start, in_line, cr, dot, dot_cr, done };
  void put(char c);

  std::uint64_t max_;
  std::uint64_t size_ = 0;
  std::string out_;
  State state_ = State::line_start;
  bool bare_ = false;
};

// BDAT (RFC 3030): takes exactly `chunk_size` octets, as they come, with
// no transparency and no terminator. Octets past max_total (counted over
// the whole message, earlier chunks included) are dropped but consumed, so
// the dialogue stays in step.
class ChunkDecoder {
 public:
  ChunkDecoder(std::uint64_t chunk_size, std::uint64_t max_total, std::string& message)
      : remaining_(chunk_size), max_(max_total), message_(message) {}

  std::size_t feed(std::string_view bytes);
  bool done() const { return remaining_ == 0; }
  bool too_big() const { return too_big_; }

 private:
  std::uint64_t remaining_;
  std::uint64_t max_;
  std::string& message_;
  bool too_big_ = false;
};

}  // namespace postern::smtp
