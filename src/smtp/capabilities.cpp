#include "smtp/capabilities.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "util/strings.hpp"

namespace postern::smtp {

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

bool valid_keyword(std::string_view k) {
  // RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
  if (k.empty() || !std::isalnum(static_cast<unsigned char>(k[0]))) return false;
  return std::all_of(k.begin(), k.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

}  // namespace

bool Capabilities::has(std::string_view keyword) const {
  return std::any_of(keywords.begin(), keywords.end(), [&](const std::string& k) { return util::iequals(k, keyword); });
}

bool Capabilities::offers_auth(std::string_view mechanism) const {
  return std::any_of(auth.begin(), auth.end(), [&](const std::string& m) { return util::iequals(m, mechanism); });
}

Capabilities parse_capabilities(const smtp::Reply& reply) {
  Capabilities caps;
  caps.esmtp = reply.code == 250;
  // The first line is the server's greeting name, not a keyword.
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    auto w = words(reply.lines[i]);
    if (w.empty()) continue;
    std::string key = upper(w[0]);
    std::vector<std::string> params(w.begin() + 1, w.end());
    if (key.rfind("AUTH=", 0) == 0) {
      params.insert(params.begin(), key.substr(5));
      key = "AUTH";
    }
    if (!valid_keyword(key)) continue;
    if (!caps.has(key)) caps.keywords.push_back(key);
    if (key == "PIPELINING") caps.pipelining = true;
    else if (key == "STARTTLS") caps.starttls = true;
    else if (key == "8BITMIME") caps.eightbitmime = true;
    else if (key == "SMTPUTF8") caps.smtputf8 = true;
    else if (key == "ENHANCEDSTATUSCODES") caps.enhanced_status = true;
    else if (key == "CHUNKING") caps.chunking = true;
    else if (key == "DSN") caps.dsn = true;
    else if (key == "SIZE") {
      std::uint64_t n = 0;
      if (!params.empty()) {
        auto& p = params[0];
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
        if (ec != std::errc() || ptr != p.data() + p.size()) n = 0;
      }
      caps.size = n;
    } else if (key == "AUTH") {
      for (auto& p : params) {
        std::string m = upper(p);
        if (!m.empty() && !caps.offers_auth(m)) caps.auth.push_back(m);
      }
    }
  }
  return caps;
}

}  // namespace postern::smtp
