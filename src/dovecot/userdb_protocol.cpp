#include "dovecot/userdb_protocol.hpp"

#include <charconv>
#include <vector>

#include "dovecot/auth_protocol.hpp"

namespace postern::dovecot {

namespace {

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) return out;
    start = tab + 1;
  }
}

std::optional<std::uint32_t> number(std::string_view text) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string userdb_request(std::uint32_t id, std::string_view user, std::string_view service) {
  return "VERSION\t1\t0\nUSER\t" + std::to_string(id) + "\t" + tab_escape(user) + "\tservice=" + tab_escape(service) +
         "\n";
}

void UserdbReader::feed(std::string_view bytes) {
  if (!failed_) buffer_.append(bytes);
}

std::optional<UserdbEvent> UserdbReader::fail(std::string what) {
  failed_ = true;
  buffer_.clear();
  scanned_ = 0;
  return ProtocolError{std::move(what)};
}

std::optional<UserdbEvent> UserdbReader::next() {
  while (!failed_) {
    auto lf = buffer_.find('\n', scanned_);
    if (lf == std::string::npos) {
      scanned_ = buffer_.size();
      if (buffer_.size() >= kMaxLineOctets) return fail("line longer than " + std::to_string(kMaxLineOctets) + " octets");
      return std::nullopt;
    }
    if (lf + 1 > kMaxLineOctets) return fail("line longer than " + std::to_string(kMaxLineOctets) + " octets");
    std::string text = buffer_.substr(0, lf);
    buffer_.erase(0, lf + 1);
    scanned_ = 0;
    if (auto e = line(text)) return e;
  }
  return std::nullopt;
}

std::optional<UserdbEvent> UserdbReader::line(std::string_view text) {
  auto f = split_tabs(text);
  const std::string_view verb = f[0];
  if (verb == "VERSION") {
    if (f.size() < 2 || f[1] != "1") return fail("unsupported auth-master protocol version");
    have_version_ = true;
    return std::nullopt;
  }
  if (verb != "USER" && verb != "NOTFOUND" && verb != "FAIL") return std::nullopt;  // SPID, and what may come
  if (!have_version_) return fail(std::string(verb) + " before VERSION");
  auto id = f.size() >= 2 ? number(f[1]) : std::nullopt;
  if (!id) return fail(std::string(verb) + " without a request id");
  if (verb == "NOTFOUND") return UserNotFound{*id};
  if (verb == "USER") return UserFound{*id, f.size() >= 3 ? tab_unescape(f[2]) : std::string()};
  UserLookupFailed failed{*id, {}};
  for (std::size_t i = 2; i < f.size(); ++i)
    if (f[i].starts_with("reason=")) failed.reason = tab_unescape(f[i].substr(7));
  return failed;
}

}  // namespace postern::dovecot
