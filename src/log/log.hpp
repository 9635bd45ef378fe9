// Event log (SPEC §9): one line per event on stderr, as `key=value` fields
// (text) or one JSON object per line (json). Fields keep their order; the
// caller puts `session=` and `queue_id=` first so lines grep like Postfix's.
// Values from clients are escaped and bounded here, never by the caller.
// Secrets never reach this module: callers redact AUTH payloads themselves.
// Thread-safe: each line is written with one write(2).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::log {

enum class Format { text, json };

void set_format(Format format);
Format format();
// Tests and tools may silence the log entirely.
void set_enabled(bool enabled);

class Event {
 public:
  explicit Event(std::string_view name);
  Event& add(std::string_view key, std::string_view value);
  Event& add(std::string_view key, long long value);
  // Writes the line. Called by the destructor if not called before.
  void emit();
  ~Event();

  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

 private:
  std::string name_;
  std::vector<std::pair<std::string, std::string>> fields_;
  bool emitted_ = false;
};

// Convenience: log::event("listen", {{"address", "127.0.0.1:25"}}).
void event(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

// Rendering, exposed for tests.
std::string render_text(std::string_view name, const std::vector<std::pair<std::string, std::string>>& fields);
std::string render_json(std::string_view name, const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace postern::log
