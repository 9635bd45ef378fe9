// Every session's dialogue, as the testbed shows it (SPEC §10
// /api/sessions/{id}): each client line and each reply line, 334
// challenges and the client's SASL answers decoded from base64, passwords
// redacted (PLAIN, LOGIN), every reply with its meaning from `postern
// explain`, and the queue ids of the messages it delivered. The newest
// `max_sessions` are kept, each up to `max_lines` lines.
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

struct SessionRecord {
  std::string id;
  std::string client;
  std::chrono::system_clock::time_point started{}, ended{};
  bool open = true;
  std::vector<TranscriptLine> lines;
  std::vector<std::string> messages;  // queue ids accepted in it
  std::string mechanism;              // of the AUTH exchange in progress
  unsigned sasl_answers = 0;
  bool in_sasl = false;
};

class Transcripts final : public server::SessionObserver {
 public:
  static constexpr std::size_t max_sessions = 1000;
  static constexpr std::size_t max_lines = 5000;

  void opened(const admission::SessionInfo& s) override;
  void client_line(const admission::SessionInfo& s, std::string_view line) override;
  void client_message(const admission::SessionInfo& s, std::uint64_t octets) override;
  void server_reply(const admission::SessionInfo& s, const smtp::Reply& r, std::string_view cause) override;
  void closed(const admission::SessionInfo& s) override;

  std::vector<SessionRecord> list() const;  // newest first
  std::optional<SessionRecord> get(const std::string& id) const;
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

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::uint64_t version_ = 0;
  std::deque<SessionRecord> sessions_;  // oldest first
  std::map<std::string, std::string> message_session_;
};

}  // namespace postern::testbed
