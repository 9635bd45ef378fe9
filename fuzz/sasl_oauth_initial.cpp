// libFuzzer target for the OAUTHBEARER and XOAUTH2 messages the server
// parses (sasl/oauth.hpp) and the transcript's token redaction. Besides
// "no crash":
//   * a parsed token is never empty, and gone from the redacted text;
//   * a message built from a parsed user and token parses back to them;
//   * the stepper ends every exchange (a message, then any answer).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "sasl/oauth.hpp"

using namespace postern::sasl;

namespace {

class AnyToken final : public TokenVerifier {
 public:
  TokenInfo verify(std::string_view token) override {
    if (token.starts_with("i")) return {TokenInfo::State::inactive, {}, {}};
    if (token.starts_with("u")) return {TokenInfo::State::unavailable, {}, "down"};
    return {TokenInfo::State::active, {}, {}};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (auto m : {OAuthMechanism::oauthbearer, OAuthMechanism::xoauth2}) {
    if (auto p = parse_oauth_initial(m, in)) {
      if (p->token.empty()) std::abort();
      if (m == OAuthMechanism::xoauth2 && p->user.empty()) std::abort();
      // (A token that is itself the marker "<redacted>" reads the same after redaction.)
      if (p->token != "<redacted>" &&
          redact_oauth_token(in).find("auth=Bearer " + p->token + "\x01") != std::string::npos)
        std::abort();
      // Rebuilt with characters the grammar allows in each place.
      if (p->user.find('\x01') == std::string::npos && p->token.find('\x01') == std::string::npos &&
          p->token.front() != ' ' && p->user.find(',') == std::string::npos && p->user.find('=') == std::string::npos) {
        std::string again = m == OAuthMechanism::xoauth2
                                ? "user=" + p->user + "\x01" "auth=Bearer " + p->token + "\x01\x01"
                                : "n,a=" + p->user + ",\x01" "auth=Bearer " + p->token + "\x01\x01";
        if (m == OAuthMechanism::oauthbearer && p->user.empty()) again = "n,,\x01" "auth=Bearer " + p->token + "\x01\x01";
        auto back = parse_oauth_initial(m, again);
        if (!back || back->user != p->user || back->token != p->token) std::abort();
      }
    }
    OAuthStepper stepper(std::make_shared<AnyToken>());
    auto step = stepper.begin(m, in);
    if (step.status == OAuthStepper::Status::more) {
      step = stepper.step("\x01");
      if (step.status != OAuthStepper::Status::failed) std::abort();
    }
  }
  return 0;
}
