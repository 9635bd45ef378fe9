#include "smtp/data_decoder.hpp"

#include <algorithm>

namespace postern::smtp {

void DataDecoder::put(char c) {
  ++size_;
  if (size_ <= max_) out_ += c;
}

std::size_t DataDecoder::feed(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size() && state_ != State::done) {
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
  if (!too_big_ && message_.size() + n > max_) {
    too_big_ = true;
    message_.clear();
  }
  if (!too_big_) message_.append(bytes.substr(0, n));
  remaining_ -= n;
  return n;
}

}  // namespace postern::smtp
