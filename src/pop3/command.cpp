#include "pop3/command.hpp"

#include <array>
#include <charconv>
#include <utility>

#include "util/strings.hpp"

namespace postern::pop3 {
namespace {

constexpr std::array<std::pair<std::string_view, Verb>, 15> verbs{{
    {"USER", Verb::user}, {"PASS", Verb::pass}, {"APOP", Verb::apop}, {"AUTH", Verb::auth}, {"CAPA", Verb::capa},
    {"STLS", Verb::stls}, {"STAT", Verb::stat}, {"LIST", Verb::list}, {"UIDL", Verb::uidl}, {"TOP", Verb::top},
    {"RETR", Verb::retr}, {"DELE", Verb::dele}, {"RSET", Verb::rset}, {"NOOP", Verb::noop}, {"QUIT", Verb::quit},
}};

std::optional<Verb> verb_of(std::string_view keyword) {
  for (const auto& [name, verb] : verbs)
    if (util::iequals(keyword, name)) return verb;
  return std::nullopt;
}

std::optional<std::size_t> message_number(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

Reply syntax(std::string_view usage) { return Reply::err("Syntax: " + std::string(usage)); }

}  // namespace

std::string_view to_string(Verb verb) {
  for (const auto& [name, v] : verbs)
    if (v == verb) return name;
  return "?";
}

std::string_view known_verb(std::string_view line) {
  const auto keyword = line.substr(0, line.find(' '));
  for (const auto& [name, verb] : verbs)
    if (util::iequals(keyword, name)) return name;
  return "";
}

Parsed parse_command(std::string_view line) {
  if (line.find('\0') != std::string_view::npos) return Reply::err("NUL characters are not allowed");
  const auto space = line.find(' ');
  const auto keyword = line.substr(0, space);
  const std::string_view rest = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  const bool has_argument = space != std::string_view::npos;
  auto verb = verb_of(keyword);
  if (!verb) return Reply::err("Unknown command");
  if (*verb != Verb::auth && line.size() + 2 > max_command_octets) return Reply::err("Line too long");

  Command c;
  c.verb = *verb;
  switch (*verb) {
    case Verb::user:
      if (rest.empty() || rest.find(' ') != std::string_view::npos) return syntax("USER name");
      c.argument = rest;
      break;
    case Verb::pass:
      // RFC 1939 §7: the password is the rest of the line, spaces and all.
      if (!has_argument) return syntax("PASS password");
      c.argument = rest;
      break;
    case Verb::apop:
      c.argument = rest;
      break;
    case Verb::auth:
      c.argument = rest;
      break;
    case Verb::capa:
    case Verb::stls:
    case Verb::stat:
    case Verb::rset:
    case Verb::noop:
    case Verb::quit:
      if (has_argument) return syntax(std::string(to_string(*verb)));
      break;
    case Verb::list:
    case Verb::uidl:
      if (has_argument) {
        c.number = message_number(rest);
        if (!c.number) return syntax(std::string(to_string(*verb)) + " [msg]");
      }
      break;
    case Verb::retr:
    case Verb::dele:
      c.number = message_number(rest);
      if (!c.number) return syntax(std::string(to_string(*verb)) + " msg");
      break;
    case Verb::top: {
      const auto gap = rest.find(' ');
      auto lines = gap == std::string_view::npos ? std::nullopt : message_number(rest.substr(gap + 1));
      c.number = message_number(rest.substr(0, gap));
      if (!c.number || !lines) return syntax("TOP msg n");
      c.lines = *lines;
      break;
    }
  }
  return c;
}

}  // namespace postern::pop3
