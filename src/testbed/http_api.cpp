#include "testbed/http_api.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "http/guarded_server.hpp"
#include "testbed/mailpit_api.hpp"
#include "testbed/release_api.hpp"
#include "util/strings.hpp"

namespace postern::testbed {
namespace {

using nlohmann::json;

std::string rfc3339(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

json summary(const MessageSummary& m, const Transcripts& t) {
  return {{"id", m.id},
          {"from", m.from},
          {"to", m.to},
          {"subject", m.subject},
          {"size", m.size},
          {"received", rfc3339(m.received)},
          {"session", t.session_of(m.id)},
          {"user", m.user},
          {"inboxes", m.inboxes},
          {"tags", m.tags},
          {"read", m.read}};
}

json detail(const MessageInfo& m, const Transcripts& t) {
  json j = summary(m, t);
  json headers = json::array();
  for (const auto& [name, value] : m.parsed.headers) headers.push_back({{"name", name}, {"value", value}});
  j["headers"] = headers;
  j["text"] = m.parsed.text;
  j["html"] = m.parsed.html;
  json attachments = json::array();
  for (const auto& a : m.parsed.attachments)
    attachments.push_back(
        {{"filename", a.filename}, {"content_type", a.content_type}, {"size", a.size}, {"part", a.part_id}});
  j["attachments"] = attachments;
  return j;
}

json session_json(const SessionSummary& s) {
  return {{"id", s.id},
          {"client", s.client},
          {"started", rfc3339(s.started)},
          {"ended", s.open ? json(nullptr) : json(rfc3339(s.ended))},
          {"open", s.open},
          {"messages", s.messages},
          {"lines", s.lines},
          {"dropped", s.dropped},
          {"last_reply", s.last_code < 0 ? json(nullptr) : json(s.last_reply)},
          {"last_class", s.last_code < 0 ? json(nullptr) : s.last_code == 0 ? json("dropped")
                                                                            : json(std::to_string(s.last_code / 100) + "xx")},
          {"last_cause", s.last_cause}};
}

json session_json(const SessionRecord& s) {
  json j = session_json(static_cast<const SessionSummary&>(s));
  json lines = json::array();
  for (const auto& l : s.transcript) {
    json line = {{"dir", std::string(1, l.dir)}, {"line", l.line}};
    if (l.decoded) line["decoded"] = *l.decoded;
    if (l.explain) line["explain"] = *l.explain;
    if (l.scenario) line["scenario"] = *l.scenario;
    lines.push_back(std::move(line));
  }
  j["transcript"] = lines;
  return j;
}

// `number`: the rule's place, 1-based, as transcripts name it ("rule 3: ...").
json rule_json(const config::TestbedRule& r, std::size_t number) {
  return {{"number", number}, {"command", r.command}, {"from", r.from},     {"to", r.to},
          {"user", r.user},   {"reply", r.reply},     {"times", r.times},
          {"delay", config::format_duration(r.delay)}, {"action", r.action},
          {"rate", config::format_rate(r.rate_count, r.rate_window)}, {"throttle", config::format_throttle(r.throttle)}};
}

// A POST /api/rules body larger than this is refused (413) unread.
constexpr std::size_t max_rules_body = 64 << 10;

void send_json(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

void error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, {{"error", message}}, status);
}

// Under Mailpit's API (/api/v1/...) the key is spelled "Error".
void error_for(const httplib::Request& req, httplib::Response& res, int status, const std::string& message) {
  send_json(res, {{req.path.rfind("/api/v1/", 0) == 0 ? "Error" : "error", message}}, status);
}

void too_many_waiting(httplib::Response& res) {
  res.set_header("Retry-After", "1");
  error(res, 503, "too many waits and event streams open at once; try again");
}

// An unencoded "+" (greylist+2@…) in a query arrives as a space; addresses have none.
std::string plus_kept(std::string address) {
  std::replace(address.begin(), address.end(), ' ', '+');
  return address;
}

bool has_recipient(const MessageSummary& m, std::string_view address) {
  return std::any_of(m.to.begin(), m.to.end(), [&](const std::string& t) { return util::iequals(t, address); });
}

}  // namespace

HttpApi::HttpApi(Messages& messages, Transcripts& transcripts, Scenarios& scenarios)
    : messages_(messages),
      transcripts_(transcripts),
      scenarios_(scenarios),
      http_(std::make_unique<http::GuardedServer>(http::HostAllowlist(), "start the testbed with --allowed-hosts NAME",
                                                  [](const httplib::Request& req, httplib::Response& res, int status,
                                                     const std::string& reason) {
                                                    error_for(req, res, status, reason);
                                                  })) {
  http_->on_shut_down([this] { transcripts_.touch(); });  // wakes waits and event streams
  routes();
}

void HttpApi::allow_hosts(const std::vector<std::string>& names) {
  for (const auto& n : names) http_->allow_host(n);
}

HttpApi::~HttpApi() { stop(); }

int HttpApi::bind(const std::string& host, int port) {
  const int bound = port == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port));
  http_->allow_host(host);
  return bound;
}

void HttpApi::serve_releases(Releases& releases) {
  releases_ = &releases;
  add_release_routes(*http_, messages_, releases);
}

void HttpApi::start() {
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void HttpApi::stop() {
  if (!thread_.joinable()) return;
  http_->shut_down();
  thread_.join();
}

void HttpApi::routes() {
  auto& h = *http_;
  h.set_payload_max_length(1 << 20);
  h.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(page_html, "text/html; charset=utf-8"); });

  h.Get("/api/messages", [this](const httplib::Request& req, httplib::Response& res) {
    json out = json::array();
    for (const auto& m : messages_.list(plus_kept(req.get_param_value("inbox")))) out.push_back(summary(m, transcripts_));
    send_json(res, out);
  });
  h.Get("/api/inboxes", [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& [address, count] : messages_.inboxes())
      out.push_back({{"address", address}, {"messages", count.messages}, {"unread", count.unread}});
    send_json(res, out);
  });
  // With ?inbox=ADDR the message only leaves that inbox (deleted when it was its last).
  h.Delete(R"(/api/messages/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    const std::string inbox = plus_kept(req.get_param_value("inbox"));
    const bool done = inbox.empty() ? messages_.remove(id) : messages_.remove_from_inbox(id, inbox);
    if (!done)
      return error(res, 404, "no message " + util::printable(id, 40) +
                                 (inbox.empty() ? std::string() : " in inbox " + util::printable(inbox, 100)));
    transcripts_.touch();
    const auto left = messages_.summary(id);
    send_json(res, {{"id", id}, {"deleted", !left}, {"inboxes", left ? json(left->inboxes) : json::array()}});
  });
  h.Delete("/api/messages", [this](const httplib::Request&, httplib::Response& res) {
    const auto n = messages_.clear();
    transcripts_.touch();
    send_json(res, {{"deleted", n}});
  });
  h.Get(R"(/api/messages/([^/]+)/raw)", [this](const httplib::Request& req, httplib::Response& res) {
    auto raw = messages_.raw(req.matches[1]);
    if (!raw) return error(res, 404, "no message " + util::printable(req.matches[1].str(), 40));
    // Mail from anyone: a browser must neither sniff it into HTML nor run it with our origin.
    res.set_header("Content-Security-Policy", "sandbox");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(*raw, "message/rfc822");
  });
  h.Get(R"(/api/messages/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto m = messages_.get(req.matches[1]);
    if (!m) return error(res, 404, "no message " + util::printable(req.matches[1].str(), 40));
    json j = detail(*m, transcripts_);
    j["releases"] = releases_ ? releases_json(*releases_, m->id) : json::array();
    send_json(res, j);
  });

  h.Get("/api/sessions", [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& s : transcripts_.list()) out.push_back(session_json(s));
    send_json(res, out);
  });
  h.Get(R"(/api/sessions/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto s = transcripts_.get(req.matches[1]);
    if (!s) return error(res, 404, "no session " + util::printable(req.matches[1].str(), 40));
    send_json(res, session_json(*s));
  });

  h.Get("/api/wait", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string to = plus_kept(req.get_param_value("to"));
    if (to.empty()) return error(res, 400, "give the recipient: /api/wait?to=ADDRESS&timeout=SECONDS");
    double seconds = 30;
    if (req.has_param("timeout")) {
      const std::string t = req.get_param_value("timeout");
      char* end = nullptr;
      seconds = std::strtod(t.c_str(), &end);
      if (t.empty() || *end != '\0' || !(seconds >= 0) || seconds > 600)
        return error(res, 400, "timeout: expected seconds from 0 to 600, got " + util::printable(t, 20));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    auto seen = transcripts_.version();
    std::shared_ptr<void> slot;
    for (;;) {
      for (const auto& m : messages_.list())
        if (has_recipient(m, to)) return send_json(res, summary(m, transcripts_));
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return error(res, 408, "no message to " + util::printable(to, 100) + " yet");
      if (!slot && !(slot = http_->wait_slot())) return too_many_waiting(res);
      if (http_->stopping()) return error(res, 503, "the testbed is stopping");
      if (http::GuardedServer::client_gone()) return;
      seen = transcripts_.wait_change(seen, std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                                                     std::chrono::milliseconds(1000)));
    }
  });

  h.Get("/api/rules", [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    const auto rules = scenarios_.rules();
    for (std::size_t i = 0; i < rules.size(); ++i) out.push_back(rule_json(rules[i], i + 1));
    send_json(res, out);
  });
  // Answers with the rules it added, not every rule in force.
  h.Post("/api/rules", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.body.size() > max_rules_body)
      return error(res, 413, fmt::format("a rules body is at most {} octets, this one has {}", max_rules_body,
                                         req.body.size()));
    std::vector<config::TestbedRule> added;
    try {
      added = rules_from_json(req.body);
    } catch (const std::invalid_argument& e) {
      return error(res, 400, e.what());
    }
    std::size_t first = 0;
    try {
      first = scenarios_.add_rules(added);
    } catch (const TooManyRules& e) {
      return error(res, 409, e.what());
    }
    json out = json::array();
    for (std::size_t i = 0; i < added.size(); ++i) out.push_back(rule_json(added[i], first + i));
    send_json(res, out, 201);
  });
  h.Delete("/api/rules", [this](const httplib::Request&, httplib::Response& res) {
    scenarios_.clear_rules();
    send_json(res, json::array());
  });

  // Server-sent events for the page: "change" whenever a session or a message does.
  h.Get("/api/events", [this](const httplib::Request&, httplib::Response& res) {
    auto slot = http_->wait_slot();
    if (!slot) return too_many_waiting(res);
    res.set_header("Cache-Control", "no-store");
    auto seen = std::make_shared<std::uint64_t>(transcripts_.version());
    auto quiet_since = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    // Called again and again while it returns true; each call waits at most
    // a second, so a closed page or a shutdown ends the stream within one.
    res.set_chunked_content_provider("text/event-stream", [this, slot, seen, quiet_since](std::size_t, httplib::DataSink& sink) {
      if (http_->stopping() || http::GuardedServer::client_gone()) return false;
      const auto now = transcripts_.wait_change(*seen, std::chrono::seconds(1));
      std::string event;
      if (now != *seen) event = "event: change\ndata: " + std::to_string(now) + "\n\n";
      else if (std::chrono::steady_clock::now() - *quiet_since >= std::chrono::seconds(15)) event = ": keepalive\n\n";
      *seen = now;
      if (event.empty()) return true;
      *quiet_since = std::chrono::steady_clock::now();
      return sink.write(event.data(), event.size());
    });
  });

  add_mailpit_routes(h, messages_, transcripts_, std::chrono::steady_clock::now());

  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(fmt::format("# HELP postern_testbed_messages Messages kept.\n# TYPE postern_testbed_messages gauge\n"
                                "postern_testbed_messages {}\n"
                                "# HELP postern_testbed_sessions Sessions in the transcript store.\n"
                                "# TYPE postern_testbed_sessions gauge\npostern_testbed_sessions {}\n"
                                "# HELP postern_testbed_sessions_open Sessions still connected.\n"
                                "# TYPE postern_testbed_sessions_open gauge\npostern_testbed_sessions_open {}\n"
                                "# HELP postern_testbed_http_waiting Waits and event streams open.\n"
                                "# TYPE postern_testbed_http_waiting gauge\npostern_testbed_http_waiting {}\n",
                                messages_.size(), transcripts_.size(), transcripts_.open_sessions(),
                                http_->waiting()),
                    "text/plain; version=0.0.4");
  });

  h.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) error_for(req, res, 404, "no such resource: " + util::printable(req.path, 100));
    if (res.status == 413 && res.body.empty()) error_for(req, res, 413, "the request body is too large");
  });
}

}  // namespace postern::testbed
