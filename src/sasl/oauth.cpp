#include "sasl/oauth.hpp"

#include <nlohmann/json.hpp>

#include "sasl/secrets.hpp"
#include "util/strings.hpp"

namespace postern::sasl {
namespace {

constexpr char kSep = '\x01';

// RFC 5801 saslname: "=2C" is ',', "=3D" is '='; any other '=' is malformed.
std::optional<std::string> unescape_saslname(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
      continue;
    }
    auto esc = s.substr(i + 1, 2);
    if (esc == "2C") out += ',';
    else if (esc == "3D") out += '=';
    else return std::nullopt;
    i += 2;
  }
  return out;
}

// "auth=Bearer TOKEN" among ^A-ended key=value pairs that end with an empty
// one (RFC 7628 §3.1, and XOAUTH2's "user=...^Aauth=...^A^A").
struct Pairs {
  std::optional<std::string> user, token;
};
std::optional<Pairs> parse_pairs(std::string_view s) {
  Pairs p;
  for (;;) {
    auto end = s.find(kSep);
    if (end == std::string_view::npos) return std::nullopt;  // every pair ends with ^A
    auto pair = s.substr(0, end);
    s.remove_prefix(end + 1);
    if (pair.empty()) break;  // the closing ^A
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    auto key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key == "auth") {
      // RFC 6750 §2.1: "Bearer" (any case), one space, the token.
      if (value.size() < 8 || !util::iequals(value.substr(0, 7), "Bearer ") || p.token) return std::nullopt;
      std::string token(value.substr(7));
      while (!token.empty() && token.front() == ' ') token.erase(0, 1);
      if (token.empty()) return std::nullopt;
      p.token = std::move(token);
    } else if (key == "user") {
      if (p.user) return std::nullopt;
      p.user = std::string(value);
    }
  }
  if (!s.empty() || !p.token) return std::nullopt;  // nothing after the closing ^A
  return p;
}

}  // namespace

std::optional<OAuthInitial> parse_oauth_initial(OAuthMechanism m, std::string_view message) {
  OAuthInitial out;
  if (m == OAuthMechanism::xoauth2) {
    auto p = parse_pairs(message);
    if (!p || !p->user || p->user->empty()) return std::nullopt;
    out.user = std::move(*p->user);
    out.token = std::move(*p->token);
    return out;
  }
  // gs2-header (RFC 5801 §4): gs2-cb-flag "," [ "a=" saslname ] ","; no
  // channel binding ("p=") for OAUTHBEARER (RFC 7628 §3.1).
  if (message.size() < 3 || (message[0] != 'n' && message[0] != 'y') || message[1] != ',') return std::nullopt;
  message.remove_prefix(2);
  auto comma = message.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  auto authzid = message.substr(0, comma);
  message.remove_prefix(comma + 1);
  if (!authzid.empty()) {
    if (authzid.substr(0, 2) != "a=") return std::nullopt;
    auto user = unescape_saslname(authzid.substr(2));
    if (!user) return std::nullopt;
    out.user = std::move(*user);
  }
  if (message.empty() || message[0] != kSep) return std::nullopt;
  message.remove_prefix(1);
  auto p = parse_pairs(message);
  if (!p) return std::nullopt;
  out.token = std::move(*p->token);
  return out;
}

std::string redact_oauth_token(std::string_view message) {
  auto at = message.find("auth=");
  if (at == std::string_view::npos) return std::string(message);
  auto value = at + 5;
  auto end = message.find(kSep, value);
  auto bearer = message.substr(value, end == std::string_view::npos ? std::string_view::npos : end - value);
  std::string keep = bearer.size() >= 7 && util::iequals(bearer.substr(0, 7), "Bearer ") ? "Bearer " : "";
  std::string out(message.substr(0, value));
  out += keep + "<redacted>";
  if (end != std::string_view::npos) out += redact_oauth_token(message.substr(end));
  return out;
}

std::string oauth_error_json(OAuthMechanism m, std::string_view scope) {
  // Key order as Gmail and RFC 7628 §3.2.2 show it (ordered_json).
  nlohmann::ordered_json j;
  j["status"] = m == OAuthMechanism::oauthbearer ? "invalid_token" : "401";
  j["schemes"] = "bearer";
  if (!scope.empty()) j["scope"] = std::string(scope);
  return j.dump();
}

OAuthStepper::Step OAuthStepper::fail(std::string_view why) {
  phase_ = Phase::finished;
  if (reason_.empty()) reason_ = why;
  return {Status::failed, {}};
}

OAuthStepper::Step OAuthStepper::begin(OAuthMechanism m, std::optional<std::string_view> initial_response) {
  if (phase_ != Phase::start) return fail("malformed");
  mechanism_ = m;
  phase_ = Phase::message;
  if (!initial_response) return {Status::more, {}};
  return check(*initial_response);
}

OAuthStepper::Step OAuthStepper::step(std::string_view response) {
  switch (phase_) {
    case Phase::message: return check(response);
    case Phase::error_sent:
      // RFC 7628 §3.2.3: the client answers the error with ^A (XOAUTH2
      // clients send an empty line); either way the exchange fails.
      return fail("invalid-token");
    default: return fail("malformed");
  }
}

OAuthStepper::Step OAuthStepper::check(std::string_view message) {
  auto parsed = parse_oauth_initial(mechanism_, message);
  if (!parsed) return fail("malformed");
  user_ = parsed->user;
  TokenInfo info;
  try {
    info = verifier_->verify(parsed->token);
  } catch (const std::exception& e) {
    info.state = TokenInfo::State::unavailable;
    info.detail = e.what();
  }
  wipe(parsed->token);
  switch (info.state) {
    case TokenInfo::State::unavailable:
      phase_ = Phase::finished;
      reason_ = "introspection-unavailable";
      detail_ = std::move(info.detail);
      return {Status::temporary, {}};
    case TokenInfo::State::inactive:
      phase_ = Phase::error_sent;
      reason_ = "invalid-token";
      return {Status::more, oauth_error_json(mechanism_, verifier_->scope())};
    case TokenInfo::State::unowned:
      return fail("no-user");
    case TokenInfo::State::active:
      break;
  }
  // The token's owner must be the user named; OAUTHBEARER may leave a=
  // out, and then the token names the user.
  if (user_.empty()) user_ = info.user;
  if (user_.empty()) return fail("no-user");
  if (!info.user.empty() && !util::iequals(info.user, user_)) return fail("wrong-user");
  if (info.user.empty() && !verifier_->admits(user_)) return fail("unknown-user");
  identity_ = user_;
  phase_ = Phase::finished;
  return {Status::done, {}};
}

}  // namespace postern::sasl
