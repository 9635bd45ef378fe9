// Every session's dialogue, as the testbed shows it (SPEC §10
// /api/sessions/{id}): each client line and each reply line, 334
// challenges and the client's SASL answers decoded from base64, passwords
// redacted (PLAIN, LOGIN), every reply with its meaning from `postern
// explain`, and the queue ids of the messages it delivered.
//
// Memory is bounded whatever clients send: the newest `max_sessions`
// sessions are kept, each transcript up to `max_lines` lines and
// `max_session_bytes`, and all transcripts together within `max_bytes`:
// past that, the oldest sessions lose their transcript (a marker line
// says so) and keep their summary.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/hooks.hpp"

namespace postern::testbed {

struct TranscriptLine {
  char dir = 's';                      // 'c' client, 's' server
  std::string line;                    // as sent, without CRLF (secrets replaced by "<redacted>")
  std::optional<std::string> decoded;  // base64 SASL payload, decoded (printable, redacted)
  std::optional<std::string> explain;  // the reply's meaning
  std::optional<std::string> scenario;  // the scenario or rule that chose this reply
};

// What the session list shows: no transcript.
struct SessionSummary {
  std::string id;
  std::string client;
  std::chrono::system_clock::time_point started{}, ended{};
  bool open = true;
  std::deque<std::string> messages;  // queue ids accepted in it, the newest `max_session_messages`
  std::size_t lines = 0;             // transcript lines the session had, kept or not
  bool dropped = false;              // the transcript went to keep within max_bytes
  // How it ended, at a glance: the last reply but those to RSET, NOOP and
  // QUIT (unless nothing else came; code 0: dropped with no reply),
  // and the scenario or rule that chose it ("" for the usual answer).
  int last_code = -1;  // -1: no reply yet
  std::string last_reply, last_cause;
};

struct SessionRecord : SessionSummary {
  std::vector<TranscriptLine> transcript;
  std::size_t bytes = 0;  // what `transcript` holds, as counted against the budget
  bool truncated = false;
  std::string mechanism;  // of the AUTH exchange in progress
  unsigned sasl_answers = 0;
  bool in_sasl = false;
  bool housekeeping = false;  // the last command was RSET, NOOP or QUIT: its reply says nothing of how it went
};

struct TranscriptLimits {
  std::size_t max_sessions = 1000;
  std::size_t max_lines = 2000;             // per session
  std::size_t max_session_bytes = 2 << 20;  // per session
  std::size_t max_bytes = 32 << 20;         // all transcripts together ([testbed] max_transcript_size)
  std::size_t max_session_messages = 100;   // queue ids listed per session

  // For a total of `max_bytes`: one session may take a sixteenth of it.
  static TranscriptLimits for_budget(std::size_t max_bytes) {
    TranscriptLimits l;
    l.max_bytes = max_bytes;
    l.max_session_bytes = max_bytes / 16;
    return l;
  }
};

class Transcripts final : public server::SessionObserver {
 public:
  explicit Transcripts(TranscriptLimits limits = {}) : limits_(limits) {}

  void opened(const admission::SessionInfo& s) override;
  void client_line(const admission::SessionInfo& s, std::string_view line) override;
  void client_message(const admission::SessionInfo& s, std::uint64_t octets) override;
  void server_reply(const admission::SessionInfo& s, const smtp::Reply& r, std::string_view cause) override;
  void closed(const admission::SessionInfo& s) override;

  std::vector<SessionSummary> list() const;  // newest first
  std::optional<SessionRecord> get(const std::string& id) const;
  std::size_t size() const;
  std::size_t open_sessions() const;
  std::size_t bytes() const;  // held by all transcripts
  // The session a queue id came in ("" when unknown).
  std::string session_of(const std::string& queue_id) const;
  void clear();

  // Bumped on every change; wait_change() returns when it moves past `seen`.
  std::uint64_t version() const;
  std::uint64_t wait_change(std::uint64_t seen, std::chrono::milliseconds timeout) const;
  void touch();  // something else changed (a message arrived or went)

 private:
  SessionRecord* find(const std::string& id);
  void add(SessionRecord& r, TranscriptLine line);
  void add_message(SessionRecord& r, const std::string& queue_id);
  void drop_oldest_transcripts(const SessionRecord& keep);
  void changed();

  const TranscriptLimits limits_;
  mutable std::mutex mutex_;
  std::size_t bytes_ = 0;
  mutable std::condition_variable changed_;
  std::uint64_t version_ = 0;
  std::deque<SessionRecord> sessions_;  // oldest first
  std::map<std::string, std::string> message_session_;
};

}  // namespace postern::testbed
