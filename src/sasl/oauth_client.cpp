#include "sasl/oauth_client.hpp"

#include <nlohmann/json.hpp>

#include "sasl/secrets.hpp"
#include "util/strings.hpp"

namespace postern::sasl {

namespace {

constexpr char kSep = '\x01';  // RFC 7628 kvsep

// RFC 5801 saslname: "=" and "," are escaped as =3D and =2C.
std::string saslname(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '=') out += "=3D";
    else if (c == ',') out += "=2C";
    else out += c;
  }
  return out;
}

std::string string_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (it->is_string()) return util::printable(it->get<std::string>(), 300);
  return util::printable(it->dump(), 300);
}

}  // namespace

std::optional<OAuthMechanism> choose_oauth_mechanism(const std::vector<std::string>& offered) {
  std::optional<OAuthMechanism> best;
  for (const auto& name : offered) {
    auto m = parse_oauth_mechanism(name);
    if (m && (!best || *m == OAuthMechanism::oauthbearer)) best = m;
  }
  return best;
}

std::string OAuthError::summary() const {
  if (status.empty()) return json.empty() ? "(no details)" : json;
  std::string out = "status " + status;
  if (!schemes.empty()) out += ", schemes " + schemes;
  if (!scope.empty()) out += ", scope " + scope;
  if (!openid_configuration.empty()) out += ", openid-configuration " + openid_configuration;
  return out;
}

OAuthError parse_oauth_error(std::string_view challenge) {
  OAuthError e;
  e.json = util::printable(challenge, 600);
  auto j = nlohmann::json::parse(challenge.begin(), challenge.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return e;
  e.status = string_field(j, "status");
  e.schemes = string_field(j, "schemes");
  e.scope = string_field(j, "scope");
  e.openid_configuration = string_field(j, "openid-configuration");
  return e;
}

OAuthClientStepper::OAuthClientStepper(OAuthMechanism mechanism, std::string user, std::string token,
                                       std::string host, unsigned port)
    : mechanism_(mechanism), user_(std::move(user)), token_(std::move(token)), host_(std::move(host)), port_(port) {}

OAuthClientStepper::~OAuthClientStepper() { wipe(token_); }

std::optional<std::string> OAuthClientStepper::invalid() const {
  auto has_control = [](std::string_view s) {
    for (unsigned char c : s)
      if (c < 0x20 || c == 0x7f) return true;
    return false;
  };
  if (token_.empty()) return "the OAuth token is empty";
  // RFC 6750 §2.1: a b64token has no spaces; a control character would end the field.
  if (has_control(token_) || token_.find(' ') != std::string::npos)
    return "the OAuth token holds a space or a control character";
  if (user_.empty()) return "the user name is empty";
  if (has_control(user_)) return "the user name holds a control character";
  if (has_control(host_)) return "the host name holds a control character";
  return std::nullopt;
}

std::string OAuthClientStepper::message(std::string_view token) const {
  std::string auth = "auth=Bearer " + std::string(token) + kSep + kSep;
  if (mechanism_ == OAuthMechanism::xoauth2) return "user=" + user_ + kSep + auth;
  // RFC 7628 §3.1: gs2-header, then key=value pairs each ended by ^A.
  std::string out = "n,a=" + saslname(user_) + "," + kSep;
  if (!host_.empty()) out += "host=" + host_ + kSep;
  if (port_ != 0) out += "port=" + std::to_string(port_) + kSep;
  return out + auth;
}

std::string OAuthClientStepper::initial_response() const { return message(token_); }

std::string OAuthClientStepper::shown_initial() const {
  // ^A for the separator, as RFC 7628 writes it; the transcript makes the rest printable.
  std::string out;
  for (char c : message("<redacted>")) c == kSep ? out += "^A" : out += c;
  return out;
}

OAuthClientStepper::Step OAuthClientStepper::step(std::string_view challenge) {
  if (error_) return {Status::failed, {}, "the server sent a second challenge after refusing the token"};
  error_ = parse_oauth_error(challenge);
  // RFC 7628 §3.2.3: the client answers a failure with a lone ^A; Google's
  // XOAUTH2 documentation: an empty response.
  std::string answer = mechanism_ == OAuthMechanism::oauthbearer ? std::string(1, kSep) : std::string();
  return {Status::refused, std::move(answer), error_->summary()};
}

}  // namespace postern::sasl
