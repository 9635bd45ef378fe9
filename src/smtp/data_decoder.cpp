#include "smtp/data_decoder.hpp"

#include <algorithm>
#include <cstring>

#include "util/strings.hpp"

namespace postern::smtp {

void DataDecoder::put(char c) {
  if (c == '\0') nul_ = true;
  ++size_;
  if (size_ <= max_) out_ += c;
}

void DataDecoder::put_run(std::string_view run) {
  if (!nul_ && std::memchr(run.data(), '\0', run.size())) nul_ = true;
  const std::uint64_t before = size_;
  size_ += run.size();
  if (before < max_) out_.append(run.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(run.size(), max_ - before))));
}

std::size_t DataDecoder::feed(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size() && state_ != State::done) {
    if (state_ == State::in_line) {
      // Inside a line nothing happens until CR or LF: the run up to it is
      // copied at once (what put() would do octet by octet).
      const char* p = bytes.data() + i;
      const std::size_t left = bytes.size() - i;
      const auto* cr = static_cast<const char*>(std::memchr(p, '\r', left));
      const std::size_t until_cr = cr ? static_cast<std::size_t>(cr - p) : left;
      const auto* lf = static_cast<const char*>(std::memchr(p, '\n', until_cr));
      const std::size_t run = lf ? static_cast<std::size_t>(lf - p) : until_cr;
      if (run > 0) {
        put_run(std::string_view(p, run));
        i += run;
        continue;
      }
    }
    const char c = bytes[i++];
    switch (state_) {
      case State::line_start:
        if (c == '.') {
          state_ = State::dot;
          break;
        }
        [[fallthrough]];
      case State::in_line:
        if (c == '\r') {
          state_ = State::cr;
        } else {
          if (c == '\n') bare_ = true;  // bare LF: never a line start
          put(c);
          state_ = State::in_line;
        }
        break;
      case State::cr:
        if (c == '\n') {
          put('\r');
          put('\n');
          state_ = State::line_start;
        } else {
          bare_ = true;  // bare CR
          put('\r');
          if (c == '\r') break;  // still after a CR
          put(c);
          state_ = State::in_line;
        }
        break;
      case State::dot:
        // RFC 5321 §4.5.2: a line starting with "." loses that dot.
        if (c == '\r') {
          state_ = State::dot_cr;
        } else {
          if (c == '\n') bare_ = true;
          put(c);
          state_ = State::in_line;
        }
        break;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::done;  // CRLF "." CRLF
        } else {
          bare_ = true;  // "." CR followed by something else
          put('\r');
          if (c == '\r') {
            state_ = State::cr;
          } else {
            put(c);
            state_ = State::in_line;
          }
        }
        break;
      case State::done:
        break;
    }
  }
  return i;
}

std::size_t ChunkDecoder::feed(std::string_view bytes) {
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
  if (!too_big_ && stored_ + n > room_) {
    too_big_ = true;
    out_.clear();
  }
  if (!too_big_) {
    out_.append(bytes.substr(0, n));
    stored_ += n;
  }
  remaining_ -= n;
  return n;
}

void BareLineEndScanner::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (c == '\0') nul_ = true;
    if (c == '\n') {
      if (!after_cr_) bare_ = true;
    } else if (after_cr_) {
      bare_ = true;
    }
    after_cr_ = c == '\r';
  }
}

void ReceivedCounter::feed(std::string_view bytes) {
  static constexpr std::string_view field = "received";
  // "Received:" or, RFC 5322 §4.5, "Received :": the name, then white space, then the colon.
  static constexpr std::size_t longest_head = field.size() + 16;
  for (char c : bytes) {
    if (in_body_) return;
    if (c == '\n') {
      if (head_.empty() || head_ == "\r") in_body_ = true;  // the empty line ends the header section
      head_.clear();
      line_checked_ = false;
      continue;
    }
    if (line_checked_) continue;
    if (c == ':') {
      auto name = std::string_view(head_);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (util::iequals(name, field)) ++count_;
      line_checked_ = true;
      continue;
    }
    head_ += c;
    if (head_.size() > longest_head) line_checked_ = true;
  }
}

unsigned count_received(std::string_view message) {
  ReceivedCounter c;
  c.feed(message);
  return c.count();
}

}  // namespace postern::smtp
