#include "testbed/release_api.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "store/spool.hpp"
#include "testbed/mailpit_api.hpp"
#include "util/strings.hpp"

namespace postern::testbed {

using nlohmann::json;

namespace {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

void send_json(httplib::Response& res, const json& j, int status) {
  res.status = status;
  res.set_content(j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

// Mailpit's API (/api/v1/...) spells the key "Error"; ours "error".
void error(const httplib::Request& req, httplib::Response& res, int status, const std::string& message) {
  send_json(res, {{req.path.rfind("/api/v1/", 0) == 0 ? "Error" : "error", message}}, status);
}

// A release body is small: a list of addresses and a host.
constexpr std::size_t max_release_body = 64 << 10;

}  // namespace

ReleaseRequest release_request_from_json(std::string_view text, bool mailpit) {
  json body;
  try {
    body = json::parse(text);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number no double holds (1e999);
    // the reason without the library's "[json.exception.parse_error.101] ".
    std::string why = e.what();
    if (const auto end = why.find("] "); why.starts_with("[json.exception.") && end != std::string::npos)
      why.erase(0, end + 2);
    throw std::invalid_argument("the body is not JSON: " + why);
  }
  if (!body.is_object())
    throw std::invalid_argument(mailpit ? R"(expected an object: {"To": ["ADDRESS", ...]})"
                                        : R"(expected an object: {"to": ["ADDRESS", ...], "server": "HOST:PORT"})");
  const char* to_key = mailpit ? "To" : "to";
  ReleaseRequest r;
  for (const auto& [key, value] : body.items()) {
    if (key == to_key) {
      if (!value.is_array()) throw std::invalid_argument(std::string(to_key) + ": expected an array of addresses");
      if (value.size() > Releases::max_recipients)
        throw std::invalid_argument(fmt::format("{}: at most {} recipients, got {}", to_key, Releases::max_recipients,
                                                value.size()));
      for (const auto& a : value) {
        if (!a.is_string()) throw std::invalid_argument(std::string(to_key) + ": every recipient is a string");
        r.to.push_back(a.get<std::string>());
      }
    } else if (!mailpit && key == "server") {
      if (!value.is_string() && !value.is_null()) throw std::invalid_argument("server: expected \"HOST:PORT\"");
      if (value.is_string()) r.server = value.get<std::string>();
    } else if (!mailpit) {
      throw std::invalid_argument("unknown key " + util::printable(key, 40) + " (known: to, server)");
    }
    // Mailpit's clients may send more than To; what it ignores, so do we.
  }
  if (r.to.empty()) throw std::invalid_argument(std::string(to_key) + ": give at least one recipient address");
  return r;
}

json release_json(const Release& r) {
  json recipients = json::array();
  for (const auto& s : r.recipients) {
    json one = {{"address", s.address},
                {"status", std::string(store::to_string(s.status))},
                {"attempts", s.attempts},
                {"last_reply", s.last_reply}};
    one["next_attempt"] = s.status == store::RecipientStatus::deferred ? json(rfc3339(s.next_attempt)) : json(nullptr);
    recipients.push_back(std::move(one));
  }
  const auto next = r.next_attempt();
  return {{"id", r.id},
          {"to", r.to},
          {"server", r.server.empty() ? json(nullptr) : json(r.server)},
          {"status", std::string(to_string(r.status()))},
          {"attempts", r.attempts()},
          {"last_reply", r.last_reply()},
          {"next_attempt", next ? json(rfc3339(*next)) : json(nullptr)},
          {"created", rfc3339(r.created)},
          {"recipients", recipients}};
}

json releases_json(const Releases& releases, const std::string& message_id) {
  json out = json::array();
  for (const auto& r : releases.of_message(message_id)) out.push_back(release_json(r));
  return out;
}

void add_release_routes(httplib::Server& server, Messages& messages, Releases& releases) {
  // Both forms: the answer is ours (202 with the release) or Mailpit's (200 "ok").
  auto handle = [&messages, &releases](const httplib::Request& req, httplib::Response& res, bool mailpit) {
    std::string id = req.matches[1];
    if (mailpit) {  // an {ID}, or "latest" (of ?query= when given), as Mailpit's other routes
      try {
        auto resolved = resolve_message_id(messages, req, id);
        if (!resolved) return error(req, res, 404, "no message " + util::printable(id, 40));
        id = *resolved;
      } catch (const SearchTooSlow& e) {
        return error(req, res, 503, e.what());
      } catch (const std::invalid_argument& e) {
        return error(req, res, 400, e.what());
      }
    }
    if (req.body.size() > max_release_body)
      return error(req, res, 413, fmt::format("a release body is at most {} octets", max_release_body));
    const auto info = messages.list();
    auto kept = std::find_if(info.begin(), info.end(), [&](const MessageSummary& m) { return m.id == id; });
    if (kept == info.end()) return error(req, res, 404, "no message " + util::printable(id, 40));
    ReleaseRequest request;
    try {
      request = release_request_from_json(req.body, mailpit);
      check_release_request(request);
    } catch (const std::invalid_argument& e) {
      return error(req, res, 400, e.what());
    }
    auto raw = messages.raw(id);
    if (!raw) return error(req, res, 404, "no message " + util::printable(id, 40));
    try {
      const auto r = releases.release(id, kept->from, *raw, request);
      if (mailpit) {
        res.status = 200;
        res.set_content("ok", "text/plain");
      } else {
        send_json(res, release_json(r), 202);
      }
    } catch (const Releases::Busy& e) {
      res.set_header("Retry-After", "10");
      error(req, res, 503, e.what());
    } catch (const std::exception& e) {
      error(req, res, 500, std::string("the release could not be queued: ") + e.what());
    }
  };
  server.Post(R"(/api/messages/([^/]+)/release)",
              [handle](const httplib::Request& req, httplib::Response& res) { handle(req, res, false); });
  server.Post(R"(/api/v1/message/([^/]+)/release)",
              [handle](const httplib::Request& req, httplib::Response& res) { handle(req, res, true); });
  server.Get(R"(/api/releases/([^/]+))", [&releases](const httplib::Request& req, httplib::Response& res) {
    auto r = releases.get(req.matches[1]);
    if (!r) return error(req, res, 404, "no release " + util::printable(req.matches[1].str(), 40));
    send_json(res, release_json(*r), 200);
  });
}

}  // namespace postern::testbed
