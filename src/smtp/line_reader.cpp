#include "smtp/line_reader.hpp"

#include <algorithm>
#include <cstring>

namespace postern::smtp {
namespace {
constexpr std::size_t head_octets = 16;
}

void LineReader::compact() {
  if (start_ == 0) return;
  if (start_ >= buf_.size()) {
    buf_.clear();
  } else {
    buf_.erase(0, start_);
  }
  start_ = 0;
}

void LineReader::append(std::string_view bytes) {
  compact();
  buf_.append(bytes);
}

std::span<char> LineReader::prepare(std::size_t n) {
  compact();
  prepared_ = buf_.size();
  buf_.resize(prepared_ + n);
  return {buf_.data() + prepared_, n};
}

void LineReader::release_if_empty() {
  compact();
  if (buf_.empty()) {
    std::string().swap(buf_);
    scanned_ = 0;
  }
}

void LineReader::commit(std::size_t n) {
  if (prepared_ + n < buf_.size()) buf_.resize(prepared_ + n);
}

LineReader::Result LineReader::next() {
  for (;;) {
    std::string_view rest(buf_.data() + start_, buf_.size() - start_);
    const void* lf_ptr = std::memchr(rest.data() + scanned_, '\n', rest.size() - scanned_);
    if (skipping_) {
      if (!lf_ptr) {
        buf_.clear();
        start_ = scanned_ = 0;
        return {Status::need_more, {}};
      }
      std::size_t lf = static_cast<const char*>(lf_ptr) - rest.data();
      start_ += lf + 1;
      scanned_ = 0;
      skipping_ = false;
      continue;
    }
    if (!lf_ptr) {
      // Without an LF the line is already too long once its bytes plus
      // the CRLF still to come pass the limit.
      std::size_t content = rest.size() - (!rest.empty() && rest.back() == '\r' ? 1 : 0);
      if (content + 2 > max_) {
        overlong_head_.assign(rest.substr(0, std::min<std::size_t>(rest.size(), head_octets)));
        skipping_ = true;
        buf_.clear();
        start_ = scanned_ = 0;
        return {Status::too_long, {}};
      }
      scanned_ = rest.size();
      return {Status::need_more, {}};
    }
    std::size_t lf = static_cast<const char*>(lf_ptr) - rest.data();
    std::string_view line = rest.substr(0, lf);
    start_ += lf + 1;
    scanned_ = 0;
    // The limit counts CRLF even when the client sent a bare LF.
    bool had_cr = !line.empty() && line.back() == '\r';
    if (had_cr) line.remove_suffix(1);
    if (line.size() + 2 > max_) {
      overlong_head_.assign(line.substr(0, std::min<std::size_t>(line.size(), head_octets)));
      return {Status::too_long, {}};
    }
    return {Status::line, line};
  }
}

std::string_view LineReader::buffered() const {
  return std::string_view(buf_.data() + start_, buf_.size() - start_);
}

void LineReader::consume(std::size_t n) {
  start_ += std::min(n, buf_.size() - start_);
  scanned_ = 0;
}

void LineReader::discard() {
  buf_.clear();
  start_ = scanned_ = 0;
  skipping_ = false;
}

}  // namespace postern::smtp
