// libFuzzer target for the AUTH exchange grammar (sasl/auth_line.hpp) and
// the strict base64 decoder (sasl/base64.hpp). Besides "no crash", it
// checks the properties the server relies on:
//   * decoding is canonical: a string that decodes re-encodes to itself;
//   * encode then decode gives the input back;
//   * the AUTH= xtext parameter round-trips.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sasl/auth_line.hpp"
#include "sasl/base64.hpp"

using namespace postern::sasl;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto decoded = base64_decode(in)) {
    if (base64_encode(*decoded) != in) std::abort();
  }
  auto again = base64_decode(base64_encode(in));
  if (!again || *again != in) std::abort();

  auto cmd = parse_auth_command(in);
  if (auto* c = std::get_if<AuthCommand>(&cmd)) {
    if (c->mechanism.empty() || c->mechanism.size() > 20) std::abort();
    if (c->initial_response) {
      auto r = decode_initial_response(*c->initial_response);
      if (auto* bytes = std::get_if<std::string>(&r)) {
        if (*c->initial_response != encode_response(*bytes, true)) std::abort();
      }
    }
  }

  auto r = decode_response(in);
  if (auto* bytes = std::get_if<std::string>(&r)) {
    if (encode_response(*bytes, false) != in) std::abort();
  }

  if (auto id = parse_mail_auth_parameter(in)) {
    auto back = parse_mail_auth_parameter(encode_mail_auth_parameter(*id));
    if (!back || *back != *id) std::abort();
  }
  return 0;
}
