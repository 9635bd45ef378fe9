#include "sasl/auth_line.hpp"

#include "sasl/base64.hpp"

namespace postern::sasl {
namespace {

bool is_mech_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int hex_value(char c) {
  // RFC 3461 §4: xtext uses upper-case hex digits only.
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::variant<AuthCommand, AuthSyntaxError> parse_auth_command(std::string_view arguments) {
  // Single spaces only, as RFC 4954 writes the grammar; a trailing space is tolerated.
  while (!arguments.empty() && arguments.back() == ' ') arguments.remove_suffix(1);
  if (arguments.empty()) return AuthSyntaxError::missing_mechanism;
  auto sp = arguments.find(' ');
  std::string_view mech = arguments.substr(0, sp);
  if (mech.empty() || mech.size() > 20) return AuthSyntaxError::bad_mechanism;
  for (char c : mech)
    if (!is_mech_char(c)) return AuthSyntaxError::bad_mechanism;
  AuthCommand cmd{std::string(mech), std::nullopt};
  if (sp != std::string_view::npos) {
    std::string_view rest = arguments.substr(sp + 1);
    if (rest.empty() || rest.find(' ') != std::string_view::npos) return AuthSyntaxError::extra_arguments;
    cmd.initial_response = std::string(rest);
  }
  return cmd;
}

Response decode_response(std::string_view line) {
  if (line == "*") return Cancelled{};
  auto bytes = base64_decode(line);
  if (!bytes) return BadBase64{};
  return std::move(*bytes);
}

Response decode_initial_response(std::string_view token) {
  if (token == "=") return std::string();
  if (token.empty()) return BadBase64{};
  return decode_response(token);
}

std::string encode_response(std::string_view bytes, bool initial) {
  if (initial && bytes.empty()) return "=";
  return base64_encode(bytes);
}

std::optional<std::string> parse_mail_auth_parameter(std::string_view value) {
  if (value == "<>") return std::string();
  if (value.empty()) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c == '+') {
      if (i + 2 >= value.size()) return std::nullopt;
      int hi = hex_value(value[i + 1]), lo = hex_value(value[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return std::nullopt;
    }
    // The decoded identity is an addr-spec: printable, no controls.
    if (c < 32 || c == 127) return std::nullopt;
    out += static_cast<char>(c);
  }
  return out;
}

std::string encode_mail_auth_parameter(std::string_view identity) {
  if (identity.empty()) return "<>";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : identity) {
    if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out += static_cast<char>(c);
    } else {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace postern::sasl
