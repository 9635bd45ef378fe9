#include "queue/outcome.hpp"

#include <cctype>

#include "queue/dsn.hpp"

namespace postern::queue {

std::string Outcome::summary() const { return reply ? reply->summary() : reason; }

explain::Advice Outcome::advice() const {
  try {
    return reply ? explain::advice(reply->code, reply->enhanced, reply->text()) : explain::advice(0, status, reason);
  } catch (const std::exception&) {
    return {};  // the report goes out without it
  }
}

Outcome Outcome::from_reply(const smtp::Reply& r, const std::string& remote) {
  Outcome o;
  o.kind = r.positive() ? Kind::delivered : r.permanent() ? Kind::bounced : Kind::deferred;
  o.reply = r;
  o.status = status_for(r.code, r.enhanced);
  o.remote_mta = remote;
  return o;
}

Outcome Outcome::ours(Kind kind, std::string status, std::string reason) {
  Outcome o;
  o.kind = kind;
  o.status = std::move(status);
  o.reason = std::move(reason);
  return o;
}

Outcome from_client_error(const client::Error& e, const std::string& remote) {
  using K = client::Error::Kind;
  const bool keep = e.kind == K::certificate || e.kind == K::tls || e.kind == K::no_tls || e.kind == K::protocol ||
                    e.kind == K::auth;
  if (e.reply && !e.reply->positive()) {
    Outcome o = Outcome::from_reply(*e.reply, remote);
    if (o.kind == Outcome::Kind::delivered || keep) o.kind = Outcome::Kind::deferred;
    return o;
  }
  const auto kind = e.temporary() || keep ? Outcome::Kind::deferred : Outcome::Kind::bounced;
  std::string status;
  switch (e.kind) {
    case K::refused: status = "4.4.1"; break;
    case K::timeout:
    case K::dropped: status = "4.4.2"; break;
    case K::unsupported: status = "5.6.7"; break;
    case K::tls:
    case K::certificate:
    case K::no_tls: status = "4.7.5"; break;
    case K::auth: status = "4.7.0"; break;
    default: status = kind == Outcome::Kind::bounced ? "5.4.0" : "4.4.0";
  }
  Outcome o = Outcome::ours(kind, status, remote.empty() ? e.message : remote + ": " + e.message);
  o.remote_mta = remote;
  return o;
}

std::optional<smtp::Reply> parse_summary(std::string_view s) {
  if (s.size() < 3 || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])) || !std::isdigit(static_cast<unsigned char>(s[2])) ||
      (s.size() > 3 && s[3] != ' '))
    return std::nullopt;
  const int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  if (code < 200 || code > 599) return std::nullopt;
  auto [enhanced, text] = smtp::split_enhanced(code, s.size() > 4 ? s.substr(4) : std::string_view{});
  return smtp::Reply(code, enhanced, text);
}

Outcome from_local(const delivery::LocalDelivery::Result& r) {
  // The transport's status decides; the reply says why.
  const auto kind = r.status == store::RecipientStatus::delivered ? Outcome::Kind::delivered
                    : r.status == store::RecipientStatus::bounced ? Outcome::Kind::bounced
                                                                  : Outcome::Kind::deferred;
  Outcome o = Outcome::ours(kind, kind == Outcome::Kind::bounced ? "5.0.0" : "4.0.0", r.reply);
  if (auto reply = parse_summary(r.reply)) {
    o = Outcome::from_reply(*reply, "");
    o.kind = kind;
  }
  return o;
}

}  // namespace postern::queue
