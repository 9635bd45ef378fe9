#include "smtp/command.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <utility>

#include "smtp/replies.hpp"
#include "util/strings.hpp"

namespace postern::smtp {
namespace {

struct VerbName {
  Verb verb;
  std::string_view name;
};
constexpr std::array<VerbName, 14> verbs{{
    {Verb::ehlo, "EHLO"}, {Verb::helo, "HELO"}, {Verb::mail, "MAIL"}, {Verb::rcpt, "RCPT"},
    {Verb::data, "DATA"}, {Verb::bdat, "BDAT"}, {Verb::rset, "RSET"}, {Verb::noop, "NOOP"},
    {Verb::quit, "QUIT"}, {Verb::vrfy, "VRFY"}, {Verb::expn, "EXPN"}, {Verb::help, "HELP"},
    {Verb::starttls, "STARTTLS"}, {Verb::auth, "AUTH"},
}};

std::optional<Verb> find_verb(std::string_view word) {
  for (auto& v : verbs)
    if (util::iequals(v.name, word)) return v.verb;
  return std::nullopt;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool is_keyword_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

std::optional<std::uint64_t> parse_number(std::string_view s, bool saturate) {
  if (s.empty() || s.size() > 20) {
    if (saturate && !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos)
      return std::numeric_limits<std::uint64_t>::max();
    return std::nullopt;
  }
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (p != s.data() + s.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    if (!saturate) return std::nullopt;
    return std::numeric_limits<std::uint64_t>::max();
  }
  if (ec != std::errc()) return std::nullopt;
  return v;
}

// Splits "KEY=VALUE KEY2" (RFC 5321 §4.1.2 Mail-parameters). Several
// spaces between parameters are tolerated.
std::optional<Reply> for_each_parameter(std::string_view params,
                                        const auto& handle /* (key, optional<value>) -> optional<Reply> */) {
  while (!params.empty()) {
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    if (params.empty()) break;
    auto sp = params.find(' ');
    std::string_view param = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view{} : params.substr(sp);
    auto eq = param.find('=');
    std::string_view key = param.substr(0, eq);
    if (key.empty()) return replies::bad_parameter("empty keyword");
    for (unsigned char c : key)
      if (!is_keyword_char(c)) return replies::bad_parameter("malformed keyword");
    std::optional<std::string_view> value;
    if (eq != std::string_view::npos) {
      value = param.substr(eq + 1);
      if (value->empty()) return replies::bad_parameter(upper(key) + " needs a value");
      for (unsigned char c : *value)
        if (c < 33 || c == '=' || c == 127) return replies::bad_parameter("malformed value");
    }
    if (auto r = handle(key, value)) return r;
  }
  return std::nullopt;
}

Parsed parse_mail_parameters(Command cmd, std::string_view params) {
  bool seen_size = false, seen_body = false, seen_utf8 = false, seen_auth = false;
  auto dup = [](bool& seen) { return std::exchange(seen, true); };
  auto r = for_each_parameter(params, [&](std::string_view key,
                                          std::optional<std::string_view> value) -> std::optional<Reply> {
    if (util::iequals(key, "SIZE")) {
      if (dup(seen_size)) return replies::bad_parameter("duplicate SIZE");
      auto n = value ? parse_number(*value, true) : std::nullopt;
      if (!n) return replies::bad_parameter("SIZE needs a number");
      cmd.mail.size = *n;
    } else if (util::iequals(key, "BODY")) {
      if (dup(seen_body)) return replies::bad_parameter("duplicate BODY");
      if (value && util::iequals(*value, "7BIT")) cmd.mail.body = BodyType::seven_bit;
      else if (value && util::iequals(*value, "8BITMIME")) cmd.mail.body = BodyType::eight_bit_mime;
      else return Reply{555, "5.5.4", "Unsupported BODY type"};
    } else if (util::iequals(key, "SMTPUTF8")) {
      if (dup(seen_utf8)) return replies::bad_parameter("duplicate SMTPUTF8");
      if (value) return replies::bad_parameter("SMTPUTF8 takes no value");
      cmd.mail.smtputf8 = true;
    } else if (util::iequals(key, "AUTH")) {
      // RFC 4954 §5: AUTH=<> or AUTH=xtext(mailbox).
      if (dup(seen_auth)) return replies::bad_parameter("duplicate AUTH");
      auto decoded = value ? decode_xtext(*value) : std::nullopt;
      if (!decoded) return replies::bad_parameter("AUTH needs an xtext value");
      cmd.mail.auth = std::move(*decoded);
    } else {
      // RET, ENVID (RFC 3461) and anything else not advertised: §4.1.1.11.
      return replies::unknown_parameter(upper(key));
    }
    return std::nullopt;
  });
  if (r) return *r;
  return cmd;
}

Parsed parse_rcpt_parameters(Command cmd, std::string_view params) {
  auto r = for_each_parameter(params, [](std::string_view key, std::optional<std::string_view>) {
    // NOTIFY, ORCPT (RFC 3461): DSN is not advertised.
    return std::optional<Reply>(replies::unknown_parameter(upper(key)));
  });
  if (r) return *r;
  return cmd;
}

Parsed parse_path_command(Command cmd, std::string_view arg, std::string_view prefix) {
  if (!util::istarts_with(arg, prefix)) {
    return replies::syntax(cmd.verb == Verb::mail ? "MAIL FROM:<address>" : "RCPT TO:<address>");
  }
  arg.remove_prefix(prefix.size());
  // Tolerated: one or more spaces after the colon (common in the wild).
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  auto p = parse_path(arg);
  if (!p.path) {
    return cmd.verb == Verb::mail ? replies::bad_sender(p.error) : replies::bad_recipient(p.error);
  }
  if (cmd.verb == Verb::mail && p.path->postmaster) return replies::bad_sender("Address must include a domain");
  if (cmd.verb == Verb::rcpt && p.path->null) return replies::bad_recipient("Null recipient not allowed");
  cmd.path = std::move(*p.path);
  std::string_view rest = arg.substr(p.consumed);
  if (!rest.empty() && rest.front() != ' ') return replies::syntax("parameters must follow the address after a space");
  if (cmd.verb == Verb::mail) {
    auto parsed = parse_mail_parameters(std::move(cmd), rest);
    if (auto* c = std::get_if<Command>(&parsed); c && c->path.mailbox.utf8() && !c->mail.smtputf8)
      return replies::utf8_needs_smtputf8();
    return parsed;
  }
  return parse_rcpt_parameters(std::move(cmd), rest);
}

bool valid_utf8_text(std::string_view s) {
  // Control characters other than TAB have no place in a command line.
  for (unsigned char c : s)
    if (c < 32 && c != '\t') return false;
  return true;
}

}  // namespace

std::string_view to_string(Verb verb) {
  for (auto& v : verbs)
    if (v.verb == verb) return v.name;
  return "?";
}

Parsed parse_command(std::string_view line) {
  if (line.find('\0') != std::string_view::npos) return replies::nul_in_command();
  auto sp = line.find(' ');
  std::string_view word = line.substr(0, sp);
  std::string_view arg = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  auto verb = find_verb(word);
  const std::size_t octets = line.size() + 2;
  if (!verb) {
    if (octets > max_command_octets) return replies::line_too_long();
    return replies::unrecognized();
  }
  std::size_t limit = *verb == Verb::mail ? max_mail_octets
                      : *verb == Verb::auth ? max_auth_octets
                                            : max_command_octets;
  if (octets > limit) return *verb == Verb::auth ? replies::auth_line_too_long() : replies::line_too_long();
  if (!valid_utf8_text(line)) return Reply{501, "5.5.2", "Syntax error, control characters are not allowed"};

  Command cmd;
  cmd.verb = *verb;
  std::string_view trimmed = util::trim(arg);
  switch (*verb) {
    case Verb::ehlo:
    case Verb::helo: {
      if (trimmed.empty()) return replies::syntax(std::string(to_string(*verb)) + " hostname");
      cmd.argument = std::string(trimmed);
      return cmd;
    }
    case Verb::mail:
      return parse_path_command(std::move(cmd), arg, "FROM:");
    case Verb::rcpt:
      return parse_path_command(std::move(cmd), arg, "TO:");
    case Verb::data:
    case Verb::rset:
    case Verb::quit:
    case Verb::starttls:
      if (!trimmed.empty()) return replies::syntax(std::string(to_string(*verb)) + " takes no parameters");
      return cmd;
    case Verb::noop:
    case Verb::help:
      cmd.argument = std::string(trimmed);
      return cmd;
    case Verb::vrfy:
    case Verb::expn:
      if (trimmed.empty()) return replies::syntax(std::string(to_string(*verb)) + " address");
      cmd.argument = std::string(trimmed);
      return cmd;
    case Verb::auth:
      if (trimmed.empty()) return replies::syntax("AUTH mechanism [initial-response]");
      cmd.argument = std::string(trimmed);
      return cmd;
    case Verb::bdat: {
      // RFC 3030 §2: BDAT chunk-size [ SP end-marker ]
      auto parts = util::split(trimmed, ' ');
      if (parts.empty() || parts.size() > 2) return replies::syntax("BDAT size [LAST]");
      auto n = parse_number(parts[0], false);
      if (!n) return replies::syntax("BDAT size [LAST]");
      if (parts.size() == 2) {
        if (!util::iequals(parts[1], "LAST")) return replies::syntax("BDAT size [LAST]");
        cmd.last_chunk = true;
      }
      cmd.chunk_size = *n;
      return cmd;
    }
  }
  return replies::unrecognized();
}

}  // namespace postern::smtp
