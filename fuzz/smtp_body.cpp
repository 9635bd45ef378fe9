// Fuzz target for what watches a message body stream by: the Received:
// counter (loop detection) and the bare CR/LF scanner of BDAT. Fed whole
// or in pieces of any size, each must reach the same verdict; the reply
// parser of the client side takes the same octets line by line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtp/data_decoder.hpp"
#include "smtp/reply.hpp"

using namespace postern::smtp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 17;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  ReceivedCounter whole, cut;
  BareLineEndScanner whole_scan, cut_scan;
  whole.feed(in);
  whole_scan.feed(in);
  for (std::size_t i = 0; i < in.size(); i += piece) {
    cut.feed(in.substr(i, piece));
    cut_scan.feed(in.substr(i, piece));
  }
  if (whole.count() != cut.count() || whole.count() != count_received(in)) std::abort();
  if (whole_scan.bare(true) != cut_scan.bare(true) || whole_scan.bare(false) != cut_scan.bare(false)) std::abort();
  // No CR or LF at all: never bare, whatever else it holds.
  if (in.find_first_of("\r\n") == std::string_view::npos && whole_scan.bare(true)) std::abort();

  ReplyParser parser;
  std::size_t start = 0;
  while (start < in.size()) {
    auto nl = in.find('\n', start);
    auto line = in.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (auto r = parser.feed(line)) {
      if (r->code < 100 || r->code > 599) std::abort();
      parser.reset();
    } else if (parser.failed()) {
      parser.reset();
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return 0;
}
