// libFuzzer target for the reply parsing of explain/: a reply line as a
// remote server may send it (the client and the queue explain untrusted
// replies), through explain_input, explain_reply, short_meaning, the text
// renderer and JSON. Checks that rendered text never exceeds its width and
// that short_meaning is one non-empty line.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "explain/explain.hpp"
#include "explain/render.hpp"

namespace {

std::size_t columns(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void check_width(const std::string& text, std::size_t width) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    if (columns(std::string_view(text).substr(start, nl - start)) > width) std::abort();
    start = nl + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::explain;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (Lang lang : {Lang::en, Lang::tr}) {
    std::string error;
    auto e = explain_input(in, lang, &error);
    if (!e) {
      if (error.empty()) std::abort();
      continue;
    }
    RenderOptions o{lang, 60, false};
    check_width(render(*e, o), 60);
    (void)to_json(*e, lang);
    std::string s = short_meaning(e->code, e->enhanced_code, e->text, lang);
    if (s.empty() || s.find('\n') != std::string::npos) std::abort();
    auto c = compare({*e, *e}, lang);
    check_width(render(c, o), 60);
  }
  // The parts form the client uses: code from the first three octets.
  if (size >= 3) {
    int code = (data[0] % 10) * 100 + (data[1] % 10) * 10 + data[2] % 10;
    auto r = explain_reply(code, "", in.substr(3), Lang::en);
    (void)r;
  }
  return 0;
}
