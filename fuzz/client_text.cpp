// Fuzz target for the client's text handling: EHLO capability parsing, the
// "try again in N seconds" hint, address and message checks, DATA dot-
// stuffing and RFC 2047 subject encoding. Checks invariants, not just
// crashes: dot-stuffed output always ends in CRLF.CRLF and holds no other
// lone "." line; encoded words stay under 76 octets. Also the OAuth
// refusal challenge (a JSON error): its summary is printable, the answer is
// what the mechanism requires, the shown initial response holds no token.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/capabilities.hpp"
#include "client/message.hpp"
#include "client/retry.hpp"
#include "sasl/oauth_client.hpp"

using namespace postern;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= in.size() && lines.size() < 200) {
    auto nl = in.find('\n', start);
    lines.emplace_back(in.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  smtp::Reply reply(250, "", lines);
  auto caps = smtp::parse_capabilities(reply);
  for (auto& m : caps.auth)
    if (m.empty()) std::abort();

  if (auto hint = client::retry_hint(in); hint && hint->count() < 0) std::abort();
  client::RetrySchedule schedule(client::RetryPolicy{}, [] { return 0.5; });
  auto delay = schedule.next(client::retry_hint(in));
  if (delay.count() < 1 || delay > schedule.policy().max) std::abort();

  {
    auto e = sasl::parse_oauth_error(in);
    for (unsigned char c : e.summary())
      if (c < 0x20 || c == 0x7f) std::abort();
    sasl::OAuthClientStepper bearer(sasl::OAuthMechanism::oauthbearer, "u@example.org", "TOKEN-SECRET", "h", 587);
    auto b = bearer.step(in);
    if (b.status != sasl::OAuthClientStepper::Status::refused || b.response != "\x01") std::abort();
    if (bearer.shown_initial().find("TOKEN-SECRET") != std::string::npos) std::abort();
    sasl::OAuthClientStepper x(sasl::OAuthMechanism::xoauth2, "u@example.org", "TOKEN-SECRET");
    if (!x.step(in).response.empty()) std::abort();
  }

  (void)client::address_error(in);
  (void)client::message_error(in);
  (void)client::body_error(in);

  std::string stuffed = client::dot_stuff(in);
  if (stuffed.size() < 3 || stuffed.compare(stuffed.size() - 3, 3, ".\r\n") != 0) std::abort();
  if (stuffed.size() > 3 && stuffed.compare(stuffed.size() - 5, 5, "\r\n.\r\n") != 0) std::abort();
  if (stuffed.find("\r\n.\r\n") != stuffed.size() - 5 && stuffed.size() > 3) std::abort();
  for (std::size_t i = 0; i < stuffed.size(); ++i) {
    if (stuffed[i] == '\n' && (i == 0 || stuffed[i - 1] != '\r')) std::abort();  // no bare LF
    if (stuffed[i] == '\r' && (i + 1 >= stuffed.size() || stuffed[i + 1] != '\n')) std::abort();  // no bare CR
  }

  std::string encoded = client::encode_header_text(in.substr(0, 300));
  if (encoded.rfind("=?UTF-8?B?", 0) == 0) {
    std::size_t s = 0;
    while (s < encoded.size()) {
      auto e = encoded.find("\r\n ", s);
      if ((e == std::string::npos ? encoded.size() : e) - s > 75) std::abort();
      if (e == std::string::npos) break;
      s = e + 3;
    }
  }
  return 0;
}
