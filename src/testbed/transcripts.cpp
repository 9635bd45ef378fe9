#include "testbed/transcripts.hpp"

#include <algorithm>

#include "explain/explain.hpp"
#include "sasl/base64.hpp"
#include "sasl/oauth.hpp"
#include "util/strings.hpp"

namespace postern::testbed {
namespace {

constexpr std::string_view redacted = "<redacted>";

std::string meaning(const smtp::Reply& r) {
  try {
    return explain::short_meaning(r.code, r.enhanced, r.text());
  } catch (...) {
    return {};
  }
}

// A SASL payload for people: printable, NULs shown as \0.
std::string show(std::string_view bytes) {
  std::string out;
  for (std::size_t start = 0;;) {
    const auto nul = bytes.find('\0', start);
    out += util::printable(bytes.substr(start, nul - start), 2000);
    if (nul == std::string_view::npos) return out;
    out += "\\0";
    start = nul + 1;
  }
}

// PLAIN's "authzid\0authcid\0password" with the password redacted.
std::string redact_plain(std::string_view bytes) {
  auto second = bytes.find('\0', bytes.find('\0') + 1);
  if (bytes.find('\0') == std::string_view::npos || second == std::string_view::npos) return std::string(redacted);
  return show(bytes.substr(0, second + 1)) + std::string(redacted);
}

bool is_oauth(std::string_view mechanism) { return sasl::parse_oauth_mechanism(mechanism).has_value(); }

std::size_t cost(const TranscriptLine& t) {
  auto opt = [](const std::optional<std::string>& s) { return s ? s->size() : 0; };
  return sizeof(TranscriptLine) + t.line.size() + opt(t.decoded) + opt(t.explain) + opt(t.scenario);
}

}  // namespace

SessionRecord* Transcripts::find(const std::string& id) {
  for (auto it = sessions_.rbegin(); it != sessions_.rend(); ++it)
    if (it->id == id) return &*it;
  return nullptr;
}

void Transcripts::changed() {
  ++version_;
  changed_.notify_all();
}

void Transcripts::add(SessionRecord& r, TranscriptLine line) {
  ++r.lines;
  if (r.truncated) return changed();
  if (r.transcript.size() >= limits_.max_lines || r.bytes + cost(line) > limits_.max_session_bytes) {
    line = {'s',
            "(transcript truncated: at most " + std::to_string(limits_.max_lines) + " lines or " +
                std::to_string(limits_.max_session_bytes >> 10) + " KiB per session)",
            {}, {}, {}};
    r.truncated = true;
  }
  const auto n = cost(line);
  r.transcript.push_back(std::move(line));
  r.bytes += n;
  bytes_ += n;
  if (bytes_ > limits_.max_bytes) drop_oldest_transcripts(r);
  changed();
}

// Oldest first, every transcript but `keep`'s goes until the total fits.
void Transcripts::drop_oldest_transcripts(const SessionRecord& keep) {
  const TranscriptLine marker{'s',
                              "(transcript dropped: the testbed keeps " + std::to_string(limits_.max_bytes >> 20) +
                                  " MiB of transcripts in all, the newest)",
                              {}, {}, {}};
  for (auto& s : sessions_) {
    if (bytes_ <= limits_.max_bytes) return;
    if (&s == &keep || s.bytes <= cost(marker)) continue;
    bytes_ -= s.bytes;
    s.transcript.clear();
    s.transcript.shrink_to_fit();
    s.transcript.push_back(marker);
    s.bytes = cost(marker);
    bytes_ += s.bytes;
    s.dropped = true;
  }
}

void Transcripts::add_message(SessionRecord& r, const std::string& queue_id) {
  r.messages.push_back(queue_id);
  message_session_[queue_id] = r.id;
  while (r.messages.size() > limits_.max_session_messages) {
    message_session_.erase(r.messages.front());
    r.messages.pop_front();
  }
}

void Transcripts::opened(const admission::SessionInfo& s) {
  std::lock_guard lock(mutex_);
  SessionRecord r;
  r.id = s.id;
  r.client = s.peer_address;
  r.started = std::chrono::system_clock::now();
  sessions_.push_back(std::move(r));
  while (sessions_.size() > limits_.max_sessions) {
    auto& old = sessions_.front();
    bytes_ -= old.bytes;
    for (const auto& id : old.messages) message_session_.erase(id);
    sessions_.pop_front();
  }
  changed();
}

void Transcripts::client_line(const admission::SessionInfo& s, std::string_view line) {
  std::lock_guard lock(mutex_);
  auto* r = find(s.id);
  if (!r) return;
  TranscriptLine t{'c', util::printable(line, 2000), {}, {}, {}};
  if (!r->in_sasl) {
    const auto verb = util::to_lower(line.substr(0, line.find(' ')));
    r->housekeeping = verb == "rset" || verb == "noop" || verb == "quit";
  }
  if (r->in_sasl) {
    // An answer to a 334: base64 of the mechanism's next message.
    ++r->sasl_answers;
    auto bytes = sasl::base64_decode(line);
    if (line == "*") {
      t.decoded = "(cancelled)";
    } else if (!bytes) {
      t.decoded = "(not base64)";
    } else if (r->mechanism == "PLAIN") {
      t.line = std::string(redacted);
      t.decoded = redact_plain(*bytes);
    } else if (is_oauth(r->mechanism)) {
      // The message with the bearer token (or the answer to the JSON error).
      if (bytes->find("auth=") != std::string::npos) t.line = std::string(redacted);
      t.decoded = show(sasl::redact_oauth_token(*bytes));
    } else if (r->mechanism == "LOGIN" && r->sasl_answers >= 2) {
      t.line = std::string(redacted);
      t.decoded = std::string(redacted);  // the password
    } else {
      t.decoded = show(*bytes);
    }
  } else if (util::istarts_with(line, "AUTH ")) {
    auto rest = line.substr(5);
    auto sp = rest.find(' ');
    r->mechanism = util::to_lower(rest.substr(0, sp));
    for (auto& c : r->mechanism) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    r->sasl_answers = 0;
    if (sp != std::string_view::npos) {
      auto initial = rest.substr(sp + 1);
      auto bytes = initial == "=" ? std::optional<std::string>("") : sasl::base64_decode(initial);
      const bool secret = r->mechanism == "PLAIN" || r->mechanism == "LOGIN" || is_oauth(r->mechanism);
      t.line = "AUTH " + util::printable(rest.substr(0, sp), 40) + " " + (secret ? std::string(redacted) : util::printable(initial, 2000));
      if (bytes)
        t.decoded = r->mechanism == "PLAIN" ? redact_plain(*bytes)
                    : is_oauth(r->mechanism) ? show(sasl::redact_oauth_token(*bytes))
                                             : show(*bytes);
      if (r->mechanism == "LOGIN") r->sasl_answers = 1;  // the initial response was the user name
    }
  }
  add(*r, std::move(t));
}

void Transcripts::client_message(const admission::SessionInfo& s, std::uint64_t octets) {
  std::lock_guard lock(mutex_);
  if (auto* r = find(s.id)) add(*r, {'c', "(message: " + std::to_string(octets) + " octets)", {}, {}, {}});
}

void Transcripts::server_reply(const admission::SessionInfo& s, const smtp::Reply& reply, std::string_view cause) {
  std::lock_guard lock(mutex_);
  auto* r = find(s.id);
  if (!r) return;
  if (!r->housekeeping || r->last_code < 0) {
    r->last_code = reply.code;
    r->last_reply = util::printable(reply.code == 0 ? reply.text() : reply.summary(), 300);
    r->last_cause = util::printable(cause, 300);
  }
  if (reply.code == 0) {  // no reply at all: the connection was dropped
    add(*r, {'s', reply.text(), {}, {}, cause.empty() ? std::nullopt : std::optional<std::string>(cause)});
    return;
  }
  const std::string code = std::to_string(reply.code);
  const std::string prefix = reply.enhanced.empty() ? "" : reply.enhanced + " ";
  const std::string explain = meaning(reply);
  for (std::size_t i = 0; i < reply.lines.size(); ++i) {
    const bool last = i + 1 == reply.lines.size();
    TranscriptLine t{'s', util::printable(code + (last ? " " : "-") + prefix + reply.lines[i], 2000), {}, {}, {}};
    if (reply.code == 334) {
      auto bytes = sasl::base64_decode(reply.lines[i]);
      t.decoded = bytes ? show(*bytes) : std::string("(not base64)");
    }
    if (last && !explain.empty()) t.explain = explain;
    if (last && !cause.empty()) t.scenario = std::string(cause);
    add(*r, std::move(t));
  }
  r->in_sasl = reply.code == 334;
  if (reply.code == 250 && reply.enhanced == "2.0.0") {
    const std::string marker = "queued as ";
    auto text = reply.text();
    if (auto at = text.find(marker); at != std::string::npos) {
      add_message(*r, text.substr(at + marker.size()));
    }
  }
}

void Transcripts::closed(const admission::SessionInfo& s) {
  std::lock_guard lock(mutex_);
  if (auto* r = find(s.id)) {
    r->open = false;
    r->ended = std::chrono::system_clock::now();
    changed();
  }
}

std::vector<SessionSummary> Transcripts::list() const {
  std::lock_guard lock(mutex_);
  std::vector<SessionSummary> out;
  out.reserve(sessions_.size());
  for (auto it = sessions_.rbegin(); it != sessions_.rend(); ++it) out.push_back(static_cast<const SessionSummary&>(*it));
  return out;
}

std::size_t Transcripts::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

std::size_t Transcripts::open_sessions() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return s.open; }));
}

std::size_t Transcripts::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::optional<SessionRecord> Transcripts::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& r : sessions_)
    if (r.id == id) return r;
  return std::nullopt;
}

std::string Transcripts::session_of(const std::string& queue_id) const {
  std::lock_guard lock(mutex_);
  auto it = message_session_.find(queue_id);
  return it == message_session_.end() ? std::string() : it->second;
}

void Transcripts::clear() {
  std::lock_guard lock(mutex_);
  sessions_.clear();
  message_session_.clear();
  bytes_ = 0;
  changed();
}

std::uint64_t Transcripts::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

std::uint64_t Transcripts::wait_change(std::uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return version_ != seen; });
  return version_;
}

void Transcripts::touch() {
  std::lock_guard lock(mutex_);
  changed();
}

}  // namespace postern::testbed
