#include "log/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "util/strings.hpp"

namespace postern::log {
namespace {

std::atomic<Format> g_format{Format::text};
std::atomic<bool> g_enabled{true};
constexpr std::size_t max_value_octets = 400;

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ms));
  return buf;
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=') return true;
  return false;
}

std::string quote_text(std::string_view v) {
  std::string p = util::printable(v, max_value_octets);
  if (!needs_quotes(p)) return p;
  std::string out = "\"";
  for (char c : p) {
    if (c == '"') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string quote_json(std::string_view v) {
  std::string p = util::printable(v, max_value_octets);
  std::string out = "\"";
  for (char c : p) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

void write_line(const std::string& line) {
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

void set_format(Format f) { g_format = f; }
Format format() { return g_format; }
void set_enabled(bool enabled) { g_enabled = enabled; }

std::string render_text(std::string_view name, const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string line = timestamp() + " postern:";
  bool event_written = false;
  for (const auto& [k, v] : fields) {
    // `event=` goes after the identifying fields (session, queue_id, client).
    if (!event_written && k != "session" && k != "queue_id" && k != "client") {
      line += " event=" + std::string(name);
      event_written = true;
    }
    line += ' ' + k + '=' + quote_text(v);
  }
  if (!event_written) line += " event=" + std::string(name);
  line += '\n';
  return line;
}

std::string render_json(std::string_view name, const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string line = "{\"ts\":\"" + timestamp() + "\",\"event\":" + quote_json(name);
  for (const auto& [k, v] : fields) line += ',' + quote_json(k) + ':' + quote_json(v);
  line += "}\n";
  return line;
}

Event::Event(std::string_view name) : name_(name) {}

Event& Event::add(std::string_view key, std::string_view value) {
  fields_.emplace_back(std::string(key), std::string(value));
  return *this;
}

Event& Event::add(std::string_view key, long long value) { return add(key, std::to_string(value)); }

void Event::emit() {
  if (emitted_) return;
  emitted_ = true;
  if (!g_enabled) return;
  write_line(g_format == Format::json ? render_json(name_, fields_) : render_text(name_, fields_));
}

Event::~Event() { emit(); }

void event(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  Event e(name);
  for (const auto& [k, v] : fields) e.add(k, v);
}

}  // namespace postern::log
