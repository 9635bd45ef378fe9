#include "testbed/mailpit_api.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "mime/compose.hpp"
#include "mime/header_section.hpp"
#include "sasl/base64.hpp"
#include "testbed/messages.hpp"
#include "testbed/search.hpp"
#include "testbed/transcripts.hpp"
#include "util/strings.hpp"

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "0"
#endif

namespace postern::testbed {
namespace {

using nlohmann::json;
using Request = httplib::Request;
using Response = httplib::Response;

constexpr std::size_t default_limit = 50;
constexpr std::size_t max_ids = 10000;   // IDs in one request
constexpr std::size_t max_tags = 100;    // tags set on a message at once

struct BadRequest : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A search gets this long over the kept messages (a snapshot, no lock held).
constexpr auto search_budget = std::chrono::seconds(2);

// `q` as a predicate that gives up once the search has run past its budget.
std::function<bool(const MessageSummary&)> matcher(SearchQuery q) {
  const auto until = std::chrono::steady_clock::now() + search_budget;
  return [q = std::move(q), until](const MessageSummary& m) {
    if (std::chrono::steady_clock::now() > until)
      throw SearchTooSlow("the search ran longer than 2 s over the kept messages; narrow it down");
    return matches(q, m);
  };
}

void send_json(Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

void fail(Response& res, int status, const std::string& message) { send_json(res, {{"Error", message}}, status); }

void ok(Response& res) { res.set_content("ok", "text/plain"); }

std::string created(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const auto secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(secs), ((ms % 1000) + 1000) % 1000);
}

json address(const Mailbox& m) { return {{"Name", m.name}, {"Address", m.address}}; }

json addresses(const std::vector<Mailbox>& list) {
  json out = json::array();
  for (const auto& m : list) out.push_back(address(m));
  return out;
}

json summary_json(const MessageSummary& m) {
  return {{"ID", m.id},
          {"MessageID", m.message_id},
          {"Read", m.read},
          {"From", address(m.header_from)},
          {"To", addresses(m.header_to)},
          {"Cc", addresses(m.cc)},
          {"Bcc", addresses(m.bcc)},
          {"ReplyTo", addresses(m.reply_to)},
          {"Subject", m.subject},
          {"Created", created(m.received)},
          {"Username", m.user},
          {"Tags", m.tags},
          {"Size", m.size},
          {"Attachments", m.attachments},
          {"Snippet", m.snippet}};
}

std::string hex_digest(const EVP_MD* md, std::string_view bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), out, &n, md, nullptr) != 1) return {};
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", out[i]);
  return hex;
}

// The first value of header `name` (any case) as written, "" if none.
std::string header_value(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view name) {
  for (const auto& [n, v] : fields)
    if (util::iequals(n, name)) return v;
  return {};
}

json list_unsubscribe(const std::vector<std::pair<std::string, std::string>>& fields) {
  const std::string header = header_value(fields, "List-Unsubscribe");
  json links = json::array();
  for (std::size_t at = header.find('<'); at != std::string::npos; at = header.find('<', at + 1)) {
    const auto end = header.find('>', at);
    if (end == std::string::npos) break;
    links.push_back(header.substr(at + 1, end - at - 1));
  }
  return {{"Header", header}, {"Links", links}, {"Errors", ""}, {"HeaderPost", header_value(fields, "List-Unsubscribe-Post")}};
}

json message_json(const MessageInfo& m, std::string_view raw) {
  json j = summary_json(m);
  j.erase("Read");
  j.erase("Created");
  j.erase("Snippet");
  j.erase("Attachments");
  const auto fields = mime::header_fields(raw);
  j["ReturnPath"] = m.from;
  j["ListUnsubscribe"] = list_unsubscribe(fields);
  j["Date"] = m.parsed.date ? created(std::chrono::system_clock::time_point(std::chrono::seconds(*m.parsed.date)))
                            : created(m.received);
  j["Text"] = m.parsed.text;
  j["HTML"] = m.parsed.html;
  json inline_parts = json::array(), attached = json::array();
  std::map<std::string, std::string> contents;
  for (auto& [id, part] : mime::leaf_parts(raw)) contents.emplace(id, std::move(part.bytes));
  for (const auto& a : m.parsed.attachments) {
    const auto found = contents.find(a.part_id);
    const std::string_view bytes = found == contents.end() ? std::string_view() : std::string_view(found->second);
    json one = {{"PartID", a.part_id},
                {"FileName", a.filename},
                {"ContentType", a.content_type},
                {"ContentID", a.content_id},
                {"Size", a.size},
                {"Checksums",
                 {{"MD5", hex_digest(EVP_md5(), bytes)},
                  {"SHA1", hex_digest(EVP_sha1(), bytes)},
                  {"SHA256", hex_digest(EVP_sha256(), bytes)}}}};
    (a.inline_part ? inline_parts : attached).push_back(std::move(one));
  }
  j["Inline"] = inline_parts;
  j["Attachments"] = attached;
  return j;
}

// "Message-Id" as Go's net/textproto writes header names (Mailpit's /headers keys).
std::string canonical_header_name(std::string_view name) {
  std::string out(name);
  bool upper = true;
  for (char& c : out) {
    if (c == ' ' || static_cast<unsigned char>(c) >= 0x80) return std::string(name);
    c = upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
              : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    upper = c == '-';
  }
  return out;
}

// An unencoded "+" in a query arrives as a space; addresses have none.
std::string plus_kept(std::string address) {
  std::replace(address.begin(), address.end(), ' ', '+');
  return address;
}

std::size_t count_param(const Request& req, const char* name, std::size_t fallback) {
  // As Mailpit: what is no number is the default.
  const std::string v = req.get_param_value(name);
  if (v.empty() || v.size() > 9 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return fallback;
  return static_cast<std::size_t>(std::stoul(v));
}

SearchQuery query_of(const std::string& text) {
  try {
    return parse_search(text);
  } catch (const std::invalid_argument& e) {
    throw BadRequest(e.what());
  }
}

}  // namespace

std::optional<std::string> resolve_message_id(const Messages& messages, const httplib::Request& req, const std::string& id) {
  if (id != "latest") return messages.summary(id) ? std::optional(id) : std::nullopt;
  const std::string query = std::string(util::trim(req.get_param_value("query")));
  if (query.empty()) return messages.latest();
  const auto page = messages.find(matcher(query_of(query)), 0, 1);
  if (page.messages.empty()) return std::nullopt;
  return page.messages.front().id;
}

namespace {

json parse_body(const Request& req) {
  if (req.body.empty()) throw BadRequest("expected a JSON object as the body");
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) throw BadRequest("the body is not valid JSON");
  if (!j.is_object()) throw BadRequest("expected a JSON object as the body");
  return j;
}

std::vector<std::string> strings_of(const json& body, const char* key, std::size_t max) {
  std::vector<std::string> out;
  if (!body.contains(key) || body[key].is_null()) return out;
  const json& list = body[key];
  if (!list.is_array()) throw BadRequest(std::string(key) + ": expected an array of strings");
  if (list.size() > max) throw BadRequest(std::string(key) + ": at most " + std::to_string(max) + " entries");
  for (const auto& v : list) {
    if (!v.is_string()) throw BadRequest(std::string(key) + ": expected an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::string string_of(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return {};
  if (!body[key].is_string()) throw BadRequest(std::string(key) + ": expected a string");
  return body[key].get<std::string>();
}

bool bool_of(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return false;
  if (!body[key].is_boolean()) throw BadRequest(std::string(key) + ": expected true or false");
  return body[key].get<bool>();
}

// A plain addr-spec as a test would give one: something@something, no
// spaces, brackets or control characters.
bool plausible_address(std::string_view a) {
  const auto at = a.rfind('@');
  if (a.empty() || a.size() > 254 || at == 0 || at == std::string_view::npos || at + 1 == a.size()) return false;
  return std::none_of(a.begin(), a.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' ||
           c == '\\' || c == '"' || c == 0x7f;
  });
}

Mailbox mailbox_of(const json& v, const std::string& what) {
  if (!v.is_object()) throw BadRequest(what + ": expected {\"Email\": ..., \"Name\": ...}");
  Mailbox m{string_of(v, "Name"), string_of(v, "Email")};
  if (!plausible_address(m.address)) throw BadRequest("invalid " + what + " address: " + util::printable(m.address, 100));
  if (m.name.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) throw BadRequest(what + ": a name has no line breaks or NULs");
  return m;
}

std::vector<Mailbox> mailboxes_of(const json& body, const char* key) {
  std::vector<Mailbox> out;
  if (!body.contains(key) || body[key].is_null()) return out;
  if (!body[key].is_array() || body[key].size() > 1000) throw BadRequest(std::string(key) + ": expected an array (at most 1000)");
  for (const auto& v : body[key]) out.push_back(mailbox_of(v, key));
  return out;
}

bool field_name_ok(std::string_view name) {
  return !name.empty() && name.size() <= 76 && std::all_of(name.begin(), name.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != ':';
  });
}

// POST /api/v1/send's body as Mailpit takes it → the message and its recipients.
std::pair<mime::NewMessage, std::vector<std::string>> send_request(const json& body) {
  mime::NewMessage m;
  if (!body.contains("From")) throw BadRequest("From: required");
  m.from = mailbox_of(body["From"], "From");
  m.to = mailboxes_of(body, "To");
  m.cc = mailboxes_of(body, "Cc");
  m.reply_to = mailboxes_of(body, "ReplyTo");
  std::vector<std::string> recipients;
  for (const auto* list : {&m.to, &m.cc})
    for (const auto& a : *list) recipients.push_back(a.address);
  for (const auto& b : strings_of(body, "Bcc", 1000)) {
    if (!plausible_address(b)) throw BadRequest("invalid Bcc address: " + util::printable(b, 100));
    recipients.push_back(b);
  }
  if (recipients.empty()) throw BadRequest("no recipient: give To, Cc or Bcc");
  m.subject = string_of(body, "Subject");
  m.text = string_of(body, "Text");
  m.html = string_of(body, "HTML");
  if (m.subject.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) throw BadRequest("Subject: no line breaks or NULs");
  std::vector<std::string> restricted = {"To", "From", "Cc", "Bcc", "Reply-To", "Date", "Subject", "Content-Type", "Mime-Version"};
  const auto tags = strings_of(body, "Tags", max_tags);
  if (!tags.empty()) {
    std::string joined;
    for (const auto& t : tags) joined += (joined.empty() ? "" : ", ") + clean_tag(t);
    m.headers.emplace_back("X-Tags", joined);
    restricted.push_back("X-Tags");
  }
  if (body.contains("Headers") && !body["Headers"].is_null()) {
    if (!body["Headers"].is_object() || body["Headers"].size() > 100)
      throw BadRequest("Headers: expected an object of strings (at most 100)");
    for (const auto& item : body["Headers"].items()) {
      const std::string& name = item.key();
      const auto& value = item.value();
      if (std::any_of(restricted.begin(), restricted.end(), [&](const std::string& r) { return util::iequals(r, name); }))
        throw BadRequest("cannot overwrite header: \"" + util::printable(name, 80) + "\"");
      if (!field_name_ok(name)) throw BadRequest("not a header field name: " + util::printable(name, 80));
      if (!value.is_string() || value.get<std::string>().find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
        throw BadRequest("header " + name + ": expected a string without line breaks or NULs");
      m.headers.emplace_back(name, value.get<std::string>());
    }
  }
  if (body.contains("Attachments") && !body["Attachments"].is_null()) {
    if (!body["Attachments"].is_array() || body["Attachments"].size() > 100)
      throw BadRequest("Attachments: expected an array (at most 100)");
    for (const auto& a : body["Attachments"]) {
      if (!a.is_object()) throw BadRequest("Attachments: expected objects with Content and Filename");
      mime::NewAttachment na;
      na.filename = string_of(a, "Filename");
      na.content_type = string_of(a, "ContentType");
      na.content_id = string_of(a, "ContentID");
      std::string content = string_of(a, "Content");
      // As Mailpit: a data: URL's base64 after its last comma.
      if (const auto comma = content.rfind(','); comma != std::string::npos) content.erase(0, comma + 1);
      std::erase_if(content, [](char c) { return c == '\r' || c == '\n' || c == ' '; });
      auto bytes = sasl::base64_decode(content);
      if (!bytes) throw BadRequest("error decoding base64 attachment \"" + util::printable(na.filename, 80) + "\"");
      na.bytes = std::move(*bytes);
      for (const auto* s : {&na.filename, &na.content_type, &na.content_id})
        if (s->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) throw BadRequest("Attachments: no line breaks or NULs in names");
      m.attachments.push_back(std::move(na));
    }
  }
  return {std::move(m), std::move(recipients)};
}

// The user of "Authorization: Basic …", "" if none (Mailpit's Username for the send API).
std::string basic_auth_user(const Request& req) {
  const std::string h = req.get_header_value("Authorization");
  if (!util::istarts_with(h, "Basic ")) return {};
  auto decoded = sasl::base64_decode(util::trim(std::string_view(h).substr(6)));
  if (!decoded) return {};
  return util::printable(decoded->substr(0, decoded->find(':')), 200);
}

std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// A browser says so for a request another site started (Sec-Fetch-Site:
// cross-site or same-site); absent (curl, test code), same-origin (our
// page) and none (typed in the address bar) are the user's own.
bool cross_site(const Request& req) {
  const auto site = req.get_header_value("Sec-Fetch-Site");
  return !site.empty() && site != "same-origin" && site != "none";
}

// The handler with Mailpit's errors: a BadRequest is a 400 with its reason.
template <typename F>
httplib::Server::Handler guarded(F f) {
  return [f](const Request& req, Response& res) {
    try {
      f(req, res);
    } catch (const BadRequest& e) {
      fail(res, 400, e.what());
    } catch (const SearchTooSlow& e) {
      fail(res, 503, e.what());
    }
  };
}

// The HTML part with each "cid:CONTENT-ID" pointing at its part, as in
// Mailpit; one pass, whatever the number of parts and references.
std::string with_part_links(const ParsedMessage& p, const std::string& id) {
  std::map<std::string, std::string, std::less<>> parts;
  for (const auto& a : p.attachments)
    if (!a.content_id.empty()) parts.emplace(a.content_id, a.part_id);
  const std::string_view html = p.html;
  std::string out;
  std::size_t copied = 0;
  for (std::size_t at = html.find("cid:"); at != std::string_view::npos; at = html.find("cid:", at + 4)) {
    const auto start = at + 4;
    const auto end = std::min(html.size(), html.find_first_of("\"' >);\t\r\n", start));
    const auto part = parts.find(html.substr(start, end - start));
    if (part == parts.end()) continue;
    out.append(html.substr(copied, at - copied)).append("/api/v1/message/" + id + "/part/" + part->second);
    copied = end;
    at = end - 4;
  }
  return out.append(html.substr(copied));
}

// Mailpit's refusals of a tag rename or delete (400, with its wording).
void tag_changed(Messages::TagChange change, const std::string& from, const std::string& to) {
  if (change == Messages::TagChange::not_found) throw BadRequest("tag not found: " + util::printable(from, 100));
  if (change == Messages::TagChange::exists) throw BadRequest("tag already exists: " + util::printable(to, 100));
}

void not_found(Response& res, const std::string& id) { fail(res, 404, "message not found: " + util::printable(id, 40)); }

}  // namespace

void add_mailpit_routes(httplib::Server& h, Messages& messages, Transcripts& transcripts,
                        std::chrono::steady_clock::time_point started) {
  // A page of summaries as /api/v1/messages and /api/v1/search answer.
  const auto page_json = [&messages](const Request& req, const std::function<bool(const MessageSummary&)>& keep) {
    const std::size_t start = count_param(req, "start", 0), limit = count_param(req, "limit", default_limit);
    const auto page = messages.find(keep, start, limit);
    json list = json::array();
    for (const auto& m : page.messages) list.push_back(summary_json(m));
    json tags = json::array();
    for (const auto& [tag, n] : messages.tag_counts()) tags.push_back(tag);
    return json{{"total", messages.size()},          {"unread", messages.unread()},
                {"count", page.messages.size()},     {"messages_count", page.matched},
                {"messages_unread", page.matched_unread}, {"start", start},
                {"tags", tags},                      {"messages", list}};
  };
  // ?inbox=ADDR, the testbed's own: only that inbox.
  const auto in_inbox = [](const Request& req) {
    const std::string inbox = util::to_lower(plus_kept(req.get_param_value("inbox")));
    return [inbox](const MessageSummary& m) {
      return inbox.empty() || std::binary_search(m.inboxes.begin(), m.inboxes.end(), inbox);
    };
  };
  const auto search_text = [](const Request& req) {
    const std::string query(util::trim(req.get_param_value("query")));
    if (query.empty()) throw BadRequest("Error: no search query");
    return query_of(query);
  };

  h.Get("/api/v1/info", guarded([&messages, started](const Request&, Response& res) {
    json tags = json::object();
    for (const auto& [tag, n] : messages.tag_counts()) tags[tag] = n;
    std::uint64_t bytes = 0;
    for (const auto& m : messages.list()) bytes += m.size;
    send_json(res, {{"Version", "postern testbed " POSTERN_VERSION},
                    {"LatestVersion", ""},
                    {"Database", ""},
                    {"DatabaseSize", bytes},
                    {"Messages", messages.size()},
                    {"Unread", messages.unread()},
                    {"Tags", tags},
                    {"RuntimeStats",
                     {{"Uptime", std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count()},
                      {"Memory", resident_bytes()},
                      {"MessagesDeleted", messages.deleted()},
                      {"SMTPAccepted", messages.accepted()},
                      {"SMTPAcceptedSize", messages.accepted_bytes()},
                      {"SMTPRejected", 0},
                      {"SMTPIgnored", 0}}}});
  }));
  h.Get("/api/v1/webui", guarded([](const Request&, Response& res) {
    send_json(res, {{"Label", "Postern testbed"},
                    {"MessageRelay", {{"Enabled", false}}},
                    {"SpamAssassin", false},
                    {"ChaosEnabled", false},
                    {"DuplicatesIgnored", false},
                    {"HideDeleteAllButton", false}});
  }));
  h.Get("/api/v1/chaos", guarded([](const Request&, Response& res) {
    fail(res, 400, "Chaos is not enabled: the testbed answers by address scenarios and rules (POST /api/rules)");
  }));

  h.Get("/api/v1/messages", guarded([page_json, in_inbox](const Request& req, Response& res) {
    send_json(res, page_json(req, in_inbox(req)));
  }));
  h.Put("/api/v1/messages", guarded([&messages, &transcripts](const Request& req, Response& res) {
    const json body = parse_body(req);
    const auto ids = strings_of(body, "IDs", max_ids);
    const std::string search = std::string(util::trim(string_of(body, "Search")));
    const bool read = bool_of(body, "Read");
    if (!ids.empty() && !search.empty()) throw BadRequest("You may specify either IDs or a search query, not both");
    if (!search.empty()) {
      messages.set_read(messages.ids(matcher(query_of(search))), read);
    } else if (ids.empty()) {
      messages.set_all_read(read);
    } else {
      messages.set_read(ids, read);
    }
    transcripts.touch();
    ok(res);
  }));
  h.Delete("/api/v1/messages", guarded([&messages, &transcripts](const Request& req, Response& res) {
    // No body or no IDs: every message, as Mailpit. A body that is no JSON is refused.
    const json body = req.body.empty() ? json::object() : parse_body(req);
    const auto ids = strings_of(body, "IDs", max_ids);
    if (ids.empty()) messages.clear();
    for (const auto& id : ids) messages.remove(id);
    transcripts.touch();
    ok(res);
  }));

  h.Get("/api/v1/search", guarded([page_json, search_text, in_inbox](const Request& req, Response& res) {
    const auto match = matcher(search_text(req));
    const auto inbox = in_inbox(req);
    send_json(res, page_json(req, [&](const MessageSummary& m) { return inbox(m) && match(m); }));
  }));
  h.Delete("/api/v1/search", guarded([&messages, &transcripts, search_text](const Request& req, Response& res) {
    for (const auto& id : messages.ids(matcher(search_text(req)))) messages.remove(id);
    transcripts.touch();
    ok(res);
  }));

  h.Get(R"(/api/v1/message/([^/]+)/headers)", guarded([&messages](const Request& req, Response& res) {
    const auto id = resolve_message_id(messages, req, req.matches[1]);
    const auto raw = id ? messages.raw(*id) : std::nullopt;
    if (!raw) return not_found(res, req.matches[1]);
    json out = json::object();
    for (const auto& [name, value] : mime::header_fields(*raw)) {
      auto& list = out[canonical_header_name(name)];
      if (list.is_null()) list = json::array();
      list.push_back(value);
    }
    send_json(res, out);
  }));
  h.Get(R"(/api/v1/message/([^/]+)/raw)", guarded([&messages](const Request& req, Response& res) {
    const auto id = resolve_message_id(messages, req, req.matches[1]);
    const auto raw = id ? messages.raw(*id) : std::nullopt;
    if (!raw) return not_found(res, req.matches[1]);
    if (req.get_param_value("dl") == "1") res.set_header("Content-Disposition", "attachment; filename=\"" + *id + ".eml\"");
    // Mail from anyone: a browser must neither sniff it into HTML nor run it with the API's origin.
    res.set_header("Content-Security-Policy", "sandbox");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(*raw, "text/plain; charset=utf-8");
  }));
  h.Get(R"(/api/v1/message/([^/]+)/part/([^/]+))", guarded([&messages](const Request& req, Response& res) {
    const auto id = resolve_message_id(messages, req, req.matches[1]);
    const auto raw = id ? messages.raw(*id) : std::nullopt;
    if (!raw) return not_found(res, req.matches[1]);
    auto part = mime::part_content(*raw, req.matches[2].str());
    if (!part) return fail(res, 404, "no part " + util::printable(req.matches[2].str(), 40) + " in message " + *id);
    std::string name = part->filename;
    std::erase_if(name, [](char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < ' '; });
    res.set_header("Content-Disposition", "inline; filename=\"" + name + "\"");
    // An HTML or SVG attachment opened here must not run with the API's origin.
    res.set_header("Content-Security-Policy", "sandbox");
    res.set_header("X-Content-Type-Options", "nosniff");
    // A text part keeps its charset, so that a browser decodes it as written.
    std::string type = part->content_type.empty() ? "application/octet-stream" : part->content_type;
    const bool token = !part->charset.empty() && part->charset.size() <= 40 &&
                       std::all_of(part->charset.begin(), part->charset.end(), [](unsigned char c) {
                         return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':';
                       });
    if (type.starts_with("text/") && token) type += "; charset=" + part->charset;
    res.set_content(part->bytes, type);
  }));
  h.Get(R"(/api/v1/message/([^/]+))", guarded([&messages, &transcripts](const Request& req, Response& res) {
    const auto id = resolve_message_id(messages, req, req.matches[1]);
    auto m = id ? messages.get(*id) : std::nullopt;
    const auto raw = m ? messages.raw(*id) : std::nullopt;
    if (!raw) return not_found(res, req.matches[1]);
    // As Mailpit: reading it marks it read; but not when another site
    // sends the browser here (a top-level navigation passes the guard).
    if (!m->read && !cross_site(req)) {
      messages.set_read({*id}, true);
      transcripts.touch();
    }
    send_json(res, message_json(*m, *raw));
  }));

  h.Get("/api/v1/tags", guarded([&messages](const Request&, Response& res) {
    json tags = json::array();
    for (const auto& [tag, n] : messages.tag_counts()) tags.push_back(tag);
    send_json(res, tags);
  }));
  h.Put("/api/v1/tags", guarded([&messages, &transcripts](const Request& req, Response& res) {
    const json body = parse_body(req);
    messages.set_tags(strings_of(body, "IDs", max_ids), strings_of(body, "Tags", max_tags));
    transcripts.touch();
    ok(res);
  }));
  h.Put(R"(/api/v1/tags/(.+))", guarded([&messages, &transcripts](const Request& req, Response& res) {
    const json body = parse_body(req);
    const std::string name = clean_tag(string_of(body, "Name"));
    if (name.empty()) throw BadRequest("invalid tag name");
    tag_changed(messages.rename_tag(req.matches[1], name), req.matches[1], name);
    transcripts.touch();
    ok(res);
  }));
  h.Delete(R"(/api/v1/tags/(.+))", guarded([&messages, &transcripts](const Request& req, Response& res) {
    tag_changed(messages.rename_tag(req.matches[1], ""), req.matches[1], "");
    transcripts.touch();
    ok(res);
  }));

  h.Post("/api/v1/send", guarded([&messages, &transcripts](const Request& req, Response& res) {
    auto [message, recipients] = send_request(parse_body(req));
    store::Envelope e;
    e.reverse_path = message.from.address;
    e.recipients = std::move(recipients);
    e.client_address = req.remote_addr;
    e.auth_identity = basic_auth_user(req);
    e.received_at = std::chrono::system_clock::now();
    std::string id;
    try {
      id = messages.store(e, mime::compose_message(message));
    } catch (const std::exception& err) {
      return fail(res, 500, std::string("cannot keep the message: ") + err.what());
    }
    transcripts.touch();
    send_json(res, {{"ID", id}});
  }));

  const auto view = [&messages](bool html) {
    return guarded([&messages, html](const Request& req, Response& res) {
      const auto id = resolve_message_id(messages, req, req.matches[1]);
      const auto m = id ? messages.get(*id) : std::nullopt;
      if (!m) return not_found(res, req.matches[1]);
      res.set_header("X-Content-Type-Options", "nosniff");
      if (!html) return res.set_content(m->parsed.text, "text/plain; charset=utf-8");
      if (m->parsed.html.empty()) return fail(res, 404, "This message does not contain a HTML part");
      const std::string body = with_part_links(m->parsed, *id);
      // The captured HTML is the sender's: it runs in a sandbox, never with the API's origin.
      res.set_header("Content-Security-Policy", "sandbox");
      res.set_content(body, "text/html; charset=utf-8");
    });
  };
  h.Get(R"(/view/([^/]+)\.html)", view(true));
  h.Get(R"(/view/([^/]+)\.txt)", view(false));

  h.Get("/livez", [](const Request&, Response& res) { res.status = 200; });
  h.Get("/readyz", [](const Request&, Response& res) { res.status = 200; });
}

}  // namespace postern::testbed
