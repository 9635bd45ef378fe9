// SMTP replies as values (RFC 5321 §4.2, enhanced codes RFC 2034/3463).
// A Reply is what the server sends and what the client reads; handlers
// return Replies and only the session writes them. Multi-line replies keep
// one text per line; the enhanced code, when present, prefixes every line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp {

struct Reply {
  int code = 0;
  std::string enhanced;            // "4.2.0", or empty (greeting, EHLO, 334)
  std::vector<std::string> lines;  // at least one; may be an empty string

  Reply() = default;
  Reply(int code, std::string enhanced, std::string text);
  Reply(int code, std::string enhanced, std::vector<std::string> lines);

  bool positive() const { return code >= 200 && code < 400; }
  bool intermediate() const { return code >= 300 && code < 400; }
  bool temporary() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }

  // All lines joined with a space: the text as a user reads it.
  std::string text() const;
  // "250-...\r\n250 ...\r\n" as it goes on the wire.
  std::string wire() const;
  // One line for logs and messages: "450 4.2.0 Greylisted, try again in 300 seconds".
  std::string summary() const;
};

// Reads a server reply line by line (client side, RFC 5321 §4.2.1).
// feed() takes one line without CRLF; it returns the complete Reply after
// the last line ("NNN " or bare "NNN"), nullopt while more lines follow,
// and sets error() on a malformed line. Enhanced codes are recognised when
// every line carries the same one (RFC 2034 §4).
class ReplyParser {
 public:
  std::optional<Reply> feed(std::string_view line);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  void reset();

 private:
  int code_ = 0;
  std::vector<std::string> lines_;
  std::string error_;
};

// Splits "4.2.0 text" into ("4.2.0", "text") when text starts with an
// enhanced code valid for the basic code's class; otherwise ("", text).
std::pair<std::string, std::string> split_enhanced(int code, std::string_view text);

}  // namespace postern::smtp
