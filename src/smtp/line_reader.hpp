// Bounded line reader for the SMTP command phase (RFC 5321 §4.5.3.1.4).
// Bytes go in with append() (or prepare()/commit() to read straight into
// the buffer); next() hands out one line at a time without its CRLF, says
// it needs more, or says the line was too long. After "too long" it drops
// everything up to the next LF, so the dialogue stays in step (Postfix
// smtp_get() with SKIP). The buffer never holds more than max_line_octets
// plus one read.
//
// A line ends at LF; a CR right before it is removed. Bare LF is accepted
// in the command phase (only DATA is strict, see data_decoder.hpp).
// Raw access (buffered(), consume(), discard()) serves DATA, BDAT and the
// STARTTLS rule that no plaintext may survive the handshake.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace postern::smtp {

class LineReader {
 public:
  enum class Status { line, need_more, too_long };
  struct Result {
    Status status;
    std::string_view line;  // valid until the next call that changes the buffer
  };

  // max_line_octets counts the line with its CRLF.
  explicit LineReader(std::size_t max_line_octets) : max_(max_line_octets) {}

  void set_limit(std::size_t max_line_octets) { max_ = max_line_octets; }
  std::size_t limit() const { return max_; }

  void append(std::string_view bytes);
  // Room for n more bytes at the end of the buffer; commit() says how many were filled.
  std::span<char> prepare(std::size_t n);
  void commit(std::size_t n);

  // The next complete line, need_more, or too_long (reported once per
  // over-long line, as soon as the limit is passed).
  Result next();

  // The first octets of the last over-long line, so the caller can tell
  // which command it was (an AUTH line gets 500 5.5.6, others 500 5.5.2).
  std::string_view overlong_head() const { return overlong_head_; }

  // Bytes received but not yet handed out (pipelined input).
  std::string_view buffered() const;
  bool has_buffered() const { return !buffered().empty(); }
  // With nothing buffered, gives the buffer's memory back (an idle
  // connection then holds none; the next prepare() allocates again).
  void release_if_empty();
  void consume(std::size_t n);
  // Drops all buffered bytes (STARTTLS: CVE-2011-0411) and any skip state.
  void discard();

 private:
  std::string overlong_head_;
  void compact();

  std::size_t max_;
  std::string buf_;
  std::size_t start_ = 0;     // first byte not yet handed out
  std::size_t scanned_ = 0;   // bytes after start_ known to hold no LF
  std::size_t prepared_ = 0;  // size of buf_ before prepare()
  bool skipping_ = false;     // discarding the rest of an over-long line
};

}  // namespace postern::smtp
