#include "inbound/milter/protocol.hpp"

#include <array>

namespace postern::milter {
namespace {

void put32(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xff);
  out += static_cast<char>((v >> 16) & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

std::uint32_t get32(std::string_view s) {
  return (std::uint32_t(std::uint8_t(s[0])) << 24) | (std::uint32_t(std::uint8_t(s[1])) << 16) |
         (std::uint32_t(std::uint8_t(s[2])) << 8) | std::uint32_t(std::uint8_t(s[3]));
}

void put_string(std::string& out, std::string_view s) {
  // A NUL inside would end the string early on the filter's side.
  for (char c : s) out += c == '\0' ? ' ' : c;
  out += '\0';
}

// Splits NUL-terminated strings; nullopt unless `data` is exactly `min`..`max` of them.
std::optional<std::vector<std::string>> strings(std::string_view data, std::size_t min, std::size_t max) {
  std::vector<std::string> out;
  while (!data.empty()) {
    auto nul = data.find('\0');
    if (nul == std::string_view::npos || out.size() == max) return std::nullopt;
    out.emplace_back(data.substr(0, nul));
    data.remove_prefix(nul + 1);
  }
  if (out.size() < min) return std::nullopt;
  return out;
}

std::string name_of(char command) {
  if (command >= 0x21 && command < 0x7f) return std::string("'") + command + "'";
  return "0x" + std::to_string(std::uint8_t(command));
}

}  // namespace

std::string packet(char command, std::string_view data) {
  std::string out;
  out.reserve(5 + data.size());
  put32(out, static_cast<std::uint32_t>(data.size() + 1));
  out += command;
  out += data;
  return out;
}

std::string optneg_packet(std::uint32_t version, std::uint32_t actions, std::uint32_t steps) {
  std::string data;
  put32(data, version);
  put32(data, actions);
  put32(data, steps);
  return packet(cmd::optneg, data);
}

std::string macro_packet(char for_command, const Macros& macros) {
  std::string data(1, for_command);
  for (auto& [name, value] : macros) {
    put_string(data, name);
    put_string(data, value);
  }
  return packet(cmd::macro, data);
}

std::string connect_packet(std::string_view hostname, char family, std::uint16_t port, std::string_view address) {
  std::string data;
  put_string(data, hostname);
  data += family;
  if (family != 'U') {
    data += static_cast<char>(port >> 8);
    data += static_cast<char>(port & 0xff);
    put_string(data, address);
  }
  return packet(cmd::connect, data);
}

std::string strings_packet(char command, const std::vector<std::string>& list) {
  std::string data;
  for (auto& s : list) put_string(data, s);
  return packet(command, data);
}

void PacketReader::feed(std::string_view bytes) {
  if (failed()) return;
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 65536 && start_ * 2 > buffer_.size()) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<Packet> PacketReader::next() {
  if (failed()) return std::nullopt;
  std::string_view rest(buffer_);
  rest.remove_prefix(start_);
  if (rest.size() < 4) return std::nullopt;
  const std::uint32_t length = get32(rest);
  if (length == 0) {
    error_ = "a packet of length 0";
    return std::nullopt;
  }
  if (length > max_) {
    error_ = "a packet of " + std::to_string(length) + " octets (the limit is " + std::to_string(max_) + ")";
    return std::nullopt;
  }
  if (rest.size() - 4 < length) return std::nullopt;
  Packet p;
  p.command = rest[4];
  p.data.assign(rest.substr(5, length - 1));
  start_ += 4 + length;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return p;
}

std::variant<Negotiated, std::string> decode_optneg(std::string_view data, std::uint32_t offered_actions,
                                                    std::uint32_t offered_steps) {
  if (data.size() < 12) return std::string("a negotiation of " + std::to_string(data.size()) + " octets (12 needed)");
  Negotiated n;
  n.version = get32(data);
  n.actions = get32(data.substr(4));
  // The buffer-size flags (SMFIP_MDS_*) only matter to libmilter itself.
  n.steps = get32(data.substr(8)) & ~std::uint32_t(0x30000000);
  if (n.version < 2 || n.version > protocol_version)
    return "protocol version " + std::to_string(n.version) + " (we speak 2 to " + std::to_string(protocol_version) + ")";
  if (n.actions & ~offered_actions) return std::string("actions we did not offer");
  if (n.steps & ~offered_steps) return std::string("protocol steps we did not offer");
  data.remove_prefix(12);
  while (!data.empty()) {
    if (data.size() < 5) return std::string("a truncated macro list");
    const auto stage = get32(data);
    data.remove_prefix(4);
    auto nul = data.find('\0');
    if (nul == std::string_view::npos) return std::string("a macro list without its end");
    if (stage >= macro_stages) return "a macro list for stage " + std::to_string(stage);
    std::vector<std::string> names;
    std::string_view list = data.substr(0, nul);
    while (!list.empty()) {
      auto sep = list.find_first_of(" ,");
      auto name = list.substr(0, sep);
      if (!name.empty()) names.emplace_back(name);
      if (sep == std::string_view::npos) break;
      list.remove_prefix(sep + 1);
    }
    n.macros[stage] = std::move(names);
    data.remove_prefix(nul + 1);
  }
  return n;
}

bool Response::modification() const {
  switch (kind) {
    case Kind::header:
    case Kind::add_rcpt:
    case Kind::del_rcpt:
    case Kind::change_from:
    case Kind::replace_body:
    case Kind::quarantine:
      return true;
    default:
      return false;
  }
}

std::optional<smtp::Reply> parse_reply_code(std::string_view text) {
  std::string unescaped;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unescaped += text[i];
    if (text[i] == '%' && i + 1 < text.size() && text[i + 1] == '%') ++i;
  }
  std::string_view rest(unescaped);
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.remove_suffix(1);
  if (rest.empty()) return std::nullopt;
  smtp::ReplyParser parser;
  for (;;) {
    auto eol = rest.find('\n');
    auto line = rest.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    for (char c : line)
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return std::nullopt;
    auto reply = parser.feed(line);
    if (parser.failed()) return std::nullopt;
    if (eol == std::string_view::npos) {
      if (!reply || reply->code < 400 || reply->code > 599) return std::nullopt;
      return reply;
    }
    if (reply) return std::nullopt;  // a last line before the end
    rest.remove_prefix(eol + 1);
  }
}

std::variant<Response, std::string> decode_response(const Packet& p) {
  using Kind = Response::Kind;
  Response r;
  auto bad = [&](std::string_view why) { return "a malformed " + name_of(p.command) + " reply (" + std::string(why) + ")"; };
  switch (p.command) {
    case rep::accept: r.kind = Kind::accept; return r;
    case rep::cont: r.kind = Kind::cont; return r;
    case rep::reject: r.kind = Kind::reject; return r;
    case rep::tempfail: r.kind = Kind::tempfail; return r;
    case rep::discard: r.kind = Kind::discard; return r;
    case rep::skip: r.kind = Kind::skip; return r;
    case rep::progress: r.kind = Kind::progress; return r;
    case rep::shutdown: r.kind = Kind::shutdown; return r;
    case rep::conn_fail: r.kind = Kind::conn_fail; return r;
    case rep::replycode: {
      auto s = strings(p.data, 1, 1);
      if (!s) return bad("not one string");
      auto reply = parse_reply_code((*s)[0]);
      if (!reply) return bad("not a 4xx or 5xx SMTP reply");
      r.kind = Kind::reply_code;
      r.reply = std::move(*reply);
      return r;
    }
    case rep::addheader:
    case rep::insheader:
    case rep::chgheader: {
      std::string_view data(p.data);
      r.kind = Kind::header;
      if (p.command != rep::addheader) {
        if (data.size() < 4) return bad("no index");
        r.header.index = get32(data);
        data.remove_prefix(4);
        r.header.kind = p.command == rep::insheader ? HeaderChange::Kind::insert : HeaderChange::Kind::change;
      }
      auto s = strings(data, 2, 2);
      if (!s) return bad("not a name and a value");
      r.header.name = std::move((*s)[0]);
      r.header.value = std::move((*s)[1]);
      if (r.header.name.empty()) return bad("an empty header name");
      for (char c : r.header.name)
        if (static_cast<unsigned char>(c) <= 0x20 || c == ':' || static_cast<unsigned char>(c) >= 0x7f)
          return bad("a header name with " + name_of(c));
      return r;
    }
    case rep::addrcpt:
    case rep::delrcpt:
    case rep::addrcpt_par:
    case rep::chgfrom: {
      const bool params = p.command == rep::addrcpt_par || p.command == rep::chgfrom;
      auto s = strings(p.data, 1, params ? 2 : 1);
      if (!s) return bad("not an address");
      r.kind = p.command == rep::delrcpt ? Kind::del_rcpt : p.command == rep::chgfrom ? Kind::change_from : Kind::add_rcpt;
      r.text = std::move((*s)[0]);
      if (s->size() > 1) r.args = std::move((*s)[1]);
      return r;
    }
    case rep::replbody:
      r.kind = Kind::replace_body;
      r.text = p.data;
      return r;
    case rep::quarantine: {
      auto s = strings(p.data, 1, 1);
      if (!s) return bad("not one string");
      r.kind = Kind::quarantine;
      r.text = std::move((*s)[0]);
      return r;
    }
    default:
      return "an unknown reply " + name_of(p.command);
  }
}

}  // namespace postern::milter
