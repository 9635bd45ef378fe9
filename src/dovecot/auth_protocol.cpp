#include "dovecot/auth_protocol.hpp"

#include <algorithm>
#include <charconv>

#include "sasl/base64.hpp"

namespace postern::dovecot {
namespace {

constexpr char kEscape = '\001';

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  for (;;) {
    auto tab = line.find('\t');
    out.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return out;
    line.remove_prefix(tab + 1);
  }
}

std::optional<std::uint32_t> parse_number(std::string_view text) {
  std::uint32_t v = 0;
  if (text.empty() || text.size() > 10) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// RFC 4422 §3.1: 1-20 of [A-Z0-9-_]; Dovecot's names are upper case already.
std::optional<std::string> mechanism_name(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::string out;
  for (char c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return std::nullopt;
    out += c;
  }
  return out;
}

struct Param {
  std::string name;
  std::optional<std::string> value;
};

Param param(std::string_view field) {
  std::string text = tab_unescape(field);
  auto eq = text.find('=');
  if (eq == std::string::npos) return {std::move(text), std::nullopt};
  return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace

std::string tab_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\0': out += kEscape; out += '0'; break;
      case kEscape: out += kEscape; out += '1'; break;
      case '\t': out += kEscape; out += 't'; break;
      case '\r': out += kEscape; out += 'r'; break;
      case '\n': out += kEscape; out += 'n'; break;
      default: out += c;
    }
  }
  return out;
}

std::string tab_unescape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != kEscape || i + 1 == value.size()) {
      out += value[i];
      continue;
    }
    switch (char c = value[++i]) {
      case '0': out += '\0'; break;
      case '1': out += kEscape; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'n':
      case 'l': out += '\n'; break;
      default: out += c;
    }
  }
  return out;
}

std::string handshake_lines(std::uint32_t pid) {
  return "VERSION\t" + std::to_string(kProtocolMajor) + "\t" + std::to_string(kProtocolMinor) + "\nCPID\t" +
         std::to_string(pid) + "\n";
}

std::string auth_line(const AuthRequest& r) {
  std::string out = "AUTH\t" + std::to_string(r.id) + "\t" + tab_escape(r.mechanism) + "\tservice=" + tab_escape(r.service);
  if (r.secured) out += "\tsecured";
  // Postern keeps its own lockout and failure pacing (SPEC §12); Dovecot's
  // penalty would only stretch a reply past our read deadline.
  out += "\tno-penalty";
  if (!r.session.empty()) out += "\tsession=" + tab_escape(r.session);
  if (!r.local_ip.empty()) out += "\tlip=" + tab_escape(r.local_ip);
  if (!r.remote_ip.empty()) out += "\trip=" + tab_escape(r.remote_ip);
  if (r.local_port) out += "\tlport=" + std::to_string(r.local_port);
  if (r.remote_port) out += "\trport=" + std::to_string(r.remote_port);
  if (r.initial_response) out += "\tresp=" + sasl::base64_encode(*r.initial_response);
  out += '\n';
  return out;
}

std::string cont_line(std::uint32_t id, std::string_view bytes) {
  return "CONT\t" + std::to_string(id) + "\t" + sasl::base64_encode(bytes) + "\n";
}

void AuthReader::feed(std::string_view bytes) {
  if (failed_) return;
  buffer_.append(bytes);
}

std::optional<Event> AuthReader::fail(std::string what) {
  failed_ = true;
  buffer_.clear();
  return ProtocolError{std::move(what)};
}

std::optional<Event> AuthReader::next() {
  while (!failed_) {
    auto lf = buffer_.find('\n', scanned_);
    if (lf == std::string::npos) {
      scanned_ = buffer_.size();
      if (buffer_.size() >= kMaxLineOctets) return fail("line too long");
      return std::nullopt;
    }
    if (lf + 1 > kMaxLineOctets) return fail("line too long");
    std::string text = buffer_.substr(0, lf);
    buffer_.erase(0, lf + 1);
    scanned_ = 0;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (auto event = line(text)) return event;
  }
  return std::nullopt;
}

std::optional<Event> AuthReader::line(std::string_view text) {
  auto fields = split_tabs(text);
  std::string_view command = fields[0];
  if (!done_) {
    if (++handshake_lines_ > kMaxHandshakeLines) return fail("handshake too long");
    if (!have_version_ && command != "VERSION") return fail("handshake does not start with VERSION");
    if (command == "VERSION") {
      if (have_version_) return fail("VERSION twice");
      auto major = fields.size() >= 3 ? parse_number(fields[1]) : std::nullopt;
      auto minor = fields.size() >= 3 ? parse_number(fields[2]) : std::nullopt;
      if (!major || !minor) return fail("malformed VERSION");
      if (*major != kProtocolMajor) return fail("unsupported protocol version " + std::to_string(*major));
      have_version_ = true;
      handshake_.major = *major;
      handshake_.minor = *minor;
    } else if (command == "MECH") {
      if (fields.size() < 2) return fail("malformed MECH");
      auto name = mechanism_name(tab_unescape(fields[1]));
      if (!name) return std::nullopt;  // a name SMTP cannot carry: not ours to offer
      MechanismInfo m;
      m.name = *name;
      for (std::size_t i = 2; i < fields.size(); ++i) {
        std::string flag = tab_unescape(fields[i]);
        if (flag == "plaintext") m.plaintext = true;
        else if (flag == "private") m.hidden = true;
        else if (flag == "channel-binding") m.channel_binding = true;
      }
      auto& list = handshake_.mechanisms;
      if (std::any_of(list.begin(), list.end(), [&](const MechanismInfo& x) { return x.name == m.name; }))
        return std::nullopt;
      if (list.size() >= kMaxMechanisms) return fail("too many mechanisms");
      list.push_back(std::move(m));
    } else if (command == "DONE") {
      done_ = true;
      return HandshakeDone(std::move(handshake_));
    }
    return std::nullopt;  // SPID, CUID, COOKIE and what later versions add
  }

  if (command != "CONT" && command != "OK" && command != "FAIL") return std::nullopt;
  auto id = fields.size() >= 2 ? parse_number(fields[1]) : std::nullopt;
  if (!id) return fail("malformed " + std::string(command));
  if (command == "CONT") {
    if (fields.size() < 3) return fail("CONT without data");
    auto data = sasl::base64_decode(fields[2]);
    if (!data) return fail("CONT data is not base64");
    return Continue{*id, std::move(*data)};
  }
  if (command == "OK") {
    Success s;
    s.id = *id;
    for (std::size_t i = 2; i < fields.size(); ++i) {
      auto p = param(fields[i]);
      if (p.name == "user" && p.value) {
        s.user = std::move(*p.value);
      } else if (p.name == "resp" && p.value && !p.value->empty()) {
        auto data = sasl::base64_decode(*p.value);
        if (!data) return fail("OK resp is not base64");
        s.final_data = std::move(*data);
      } else if (p.name == "nologin" || p.name == "proxy") {
        s.nologin = true;
      }
    }
    return s;
  }
  Failure f;
  f.id = *id;
  for (std::size_t i = 2; i < fields.size(); ++i) {
    auto p = param(fields[i]);
    if (p.name == "temp" && !p.value) {
      f.temporary = true;
    } else if (p.name == "code" && p.value) {
      if (*p.value == "temp_fail") f.temporary = true;
      f.code = std::move(*p.value);
    } else if (p.name == "user" && p.value) {
      f.user = std::move(*p.value);
    }
  }
  return f;
}

std::optional<SocketAddress> parse_socket_address(std::string_view text, std::string* error) {
  auto bad = [&](std::string why) -> std::optional<SocketAddress> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (text.empty()) return bad("empty");
  if (text.find('\0') != std::string_view::npos) return bad("contains NUL");
  if (text.substr(0, 5) != "inet:") {
    if (text.substr(0, 5) == "unix:") text.remove_prefix(5);
    if (text.empty()) return bad("empty path");
    if (text.size() > 107) return bad("unix socket path longer than 107 octets");
    SocketAddress a;
    a.path = std::string(text);
    return a;
  }
  text.remove_prefix(5);
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad("want inet:HOST:PORT");
  std::string_view host = text.substr(0, colon);
  auto port = parse_number(text.substr(colon + 1));
  if (!port || *port == 0 || *port > 65535) return bad("bad port");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad("bad [IPv6] host");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 host goes in brackets: inet:[::1]:PORT");
  }
  for (char c : host)
    if (c <= ' ' || c == '/' || static_cast<unsigned char>(c) >= 0x7f) return bad("bad host");
  SocketAddress a;
  a.inet = true;
  a.host = std::string(host);
  a.port = static_cast<std::uint16_t>(*port);
  return a;
}

}  // namespace postern::dovecot
