#include "inbound/auth_results.hpp"

#include <cctype>

namespace postern::inbound {
namespace {

bool token_char(unsigned char c) {
  // RFC 2045 token, plus '@' for addresses (RFC 8601 §2.2 allows it in pvalue).
  if (c <= 0x20 || c >= 0x7f) return false;
  return std::string_view("()<>,;:\\\"/[]?=").find(static_cast<char>(c)) == std::string_view::npos;
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += (c < 0x20 || c == 0x7f || c == '(' || c == ')' || c == '\\') ? '?' : static_cast<char>(c);
  return out;
}

}  // namespace

std::string property_value(std::string_view value) {
  bool token = !value.empty();
  for (unsigned char c : value) token = token && (token_char(c) || c == '/' || c == '=' || c == '?' || c >= 0x80);
  // '/', '=' appear in header.b; RFC 8601 reads a pvalue up to white space or ';'.
  if (token) return std::string(value);
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
  }
  return out + "\"";
}

std::string authentication_results(std::string_view authserv_id, const std::vector<AuthResult>& results) {
  std::string out = "Authentication-Results: " + std::string(authserv_id);
  if (results.empty()) return out + "; none\r\n";
  for (const auto& r : results) {
    out += ";\r\n\t" + r.method + "=" + r.result;
    if (!r.comment.empty()) out += " (" + printable(r.comment) + ")";
    for (const auto& [name, value] : r.properties) out += " " + name + "=" + property_value(value);
  }
  return out + "\r\n";
}

std::string authserv_id(std::string_view value) {
  std::size_t i = 0;
  auto skip_cfws = [&] {
    for (;;) {
      while (i < value.size() && (value[i] == ' ' || value[i] == '\t' || value[i] == '\r' || value[i] == '\n')) ++i;
      if (i >= value.size() || value[i] != '(') return;
      int depth = 0;
      for (; i < value.size(); ++i) {
        if (value[i] == '\\') {
          ++i;
          continue;
        }
        if (value[i] == '(') ++depth;
        if (value[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
    }
  };
  skip_cfws();
  std::string id;
  if (i < value.size() && value[i] == '"') {
    for (++i; i < value.size() && value[i] != '"'; ++i) {
      if (value[i] == '\\' && i + 1 < value.size()) ++i;
      id += value[i];
    }
    return id;
  }
  while (i < value.size() && value[i] != ';' && value[i] != '(' && value[i] != ' ' && value[i] != '\t' &&
         value[i] != '\r' && value[i] != '\n')
    id += value[i++];
  return id;
}

}  // namespace postern::inbound
