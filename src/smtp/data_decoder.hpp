// The DATA phase decoder (RFC 5321 §4.1.1.4, §4.5.2). feed() takes raw
// bytes as they arrive and says how many it used; it stops right after the
// terminating <CRLF>.<CRLF>, leaving pipelined commands to the line reader.
//
// Defences: DATA ends ONLY on CRLF "." CRLF. A bare LF or bare CR
// anywhere is flagged (SPEC §5: 550 5.6.0), so is a NUL octet (RFC 5321
// §4.5.2 text has none, RFC 6152 8BITMIME neither; smtpsmug's nullbefore
// and nullafter probes), and since a line start needs
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
  bool nul() const { return nul_; }
  bool too_big() const { return size_ > max_; }
  // Decoded octets seen (even past the cap).
  std::uint64_t size() const { return size_; }
  // The decoded message (meaningful when done and neither flag is set).
  const std::string& message() const { return out_; }
  std::string take_message() { return std::move(out_); }
  // The octets decoded since the last call (streaming: the caller stores
  // them as they come, so the decoder holds at most one read's worth).
  std::string take_output() {
    std::string out;
    out.swap(out_);
    return out;
  }

 private:
  enum class State { line_start, in_line, cr, dot, dot_cr, done };
  void put(char c);
  void put_run(std::string_view run);  // octets that are neither CR nor LF

  std::uint64_t max_;
  std::uint64_t size_ = 0;
  std::string out_;
  State state_ = State::line_start;
  bool bare_ = false;
  bool nul_ = false;
};

// BDAT (RFC 3030): takes exactly `chunk_size` octets, as they come, with
// no transparency and no terminator. `room` is what the message may still
// grow by (max size minus earlier chunks); a chunk over it is consumed but
// dropped (too_big()), so the dialogue stays in step. Stored octets are
// appended to `out`, which the caller may drain between feeds.
class ChunkDecoder {
 public:
  ChunkDecoder(std::uint64_t chunk_size, std::uint64_t room, std::string& out)
      : remaining_(chunk_size), room_(room), out_(out) {}
  std::size_t feed(std::string_view bytes);
  bool done() const { return remaining_ == 0; }
  bool too_big() const { return too_big_; }
  std::string take_output() {
    std::string out;
    out.swap(out_);
    return out;
  }

 private:
  std::uint64_t remaining_;
  std::uint64_t room_;
  std::uint64_t stored_ = 0;
  std::string& out_;
  bool too_big_ = false;
};

// Bare CR or bare LF in a BDAT body: BDAT has no transparency, but the
// rule of DATA holds for it too (SPEC §5, SMTP smuggling), and so does the
// one for NUL (no BINARYMIME is offered). Fed every chunk in order; a CR
// as the body's very last octet is bare as well.
class BareLineEndScanner {
 public:
  void feed(std::string_view bytes);
  bool bare(bool at_end) const { return bare_ || (at_end && after_cr_); }
  bool nul() const { return nul_; }

 private:
  bool bare_ = false;
  bool after_cr_ = false;
  bool nul_ = false;
};

// Counts the Received: fields of a message's header section as the message
// streams by (RFC 5321 §6.3 loop detection), "Received :" (RFC 5322 §4.5)
// too; stops at the first empty line.
class ReceivedCounter {
 public:
  void feed(std::string_view bytes);
  unsigned count() const { return count_; }

 private:
  std::string head_;  // the current line's first octets
  bool in_body_ = false;
  bool line_checked_ = false;
  unsigned count_ = 0;
};

// Received: fields in the header section of a whole message.
unsigned count_received(std::string_view message);

}  // namespace postern::smtp
