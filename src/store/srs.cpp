#include "store/srs.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "store/durable_file.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

namespace postern::store {
namespace {

constexpr std::string_view base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::size_t hash_chars = 6;

int day(std::chrono::system_clock::time_point now) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::hours>(now.time_since_epoch()).count() / 24 % 1024);
}

std::string timestamp(int d) { return {base32[(d >> 5) & 31], base32[d & 31]}; }

std::optional<int> parse_timestamp(std::string_view t) {
  if (t.size() != 2) return std::nullopt;
  int v = 0;
  for (char c : t) {
    auto i = base32.find(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
    if (i == std::string_view::npos) return std::nullopt;
    v = v * 32 + static_cast<int>(i);
  }
  return v;
}

// Takes the field before the next "=" off the front of `rest`.
bool take(std::string_view& rest, std::string_view& field) {
  auto eq = rest.find('=');
  if (eq == std::string_view::npos) return false;
  field = rest.substr(0, eq);
  rest.remove_prefix(eq + 1);
  return true;
}

}  // namespace

Srs Srs::from_file(const std::filesystem::path& file) {
  for (int round = 0; round < 2; ++round) {
    std::ifstream in(file);
    if (in) {
      std::ostringstream s;
      s << in.rdbuf();
      auto secret = std::string(util::trim(s.str()));
      if (secret.size() >= 32) return Srs(secret);
      throw IoError(EINVAL, file.string() + ": the SRS secret is too short");
    }
    // Absent: make it. link() fails if another process made it meanwhile.
    const auto tmp = file.parent_path() / ("." + file.filename().string() + "." + util::random_hex(4) + ".tmp");
    write_new_synced(tmp, util::random_hex(32) + "\n", 0600);
    std::error_code ec;
    std::filesystem::create_hard_link(tmp, file, ec);
    std::filesystem::remove(tmp);
    if (ec && ec != std::errc::file_exists) throw IoError(ec.value(), file.string());
    if (!ec) fsync_dir(file.parent_path());
  }
  throw IoError(EIO, file.string());
}

bool Srs::is_srs(std::string_view local_part) {
  return util::istarts_with(local_part, "SRS0=") || util::istarts_with(local_part, "SRS1=");
}

std::string Srs::hash(std::string_view data) const {
  const std::string folded = util::to_lower(data);
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA1", nullptr, secret_.data(), secret_.size(),
            reinterpret_cast<const unsigned char*>(folded.data()), folded.size(), mac, sizeof mac, &len);
  std::string out;
  for (std::size_t i = 0; i < hash_chars; ++i) out += base32[mac[i] & 31];
  return out;
}

std::string Srs::forward(std::string_view sender, std::string_view domain,
                         std::chrono::system_clock::time_point now) const {
  const auto at = sender.rfind('@');
  if (at == std::string_view::npos || at == 0) return std::string(sender);
  const std::string_view local = sender.substr(0, at), host = sender.substr(at + 1);
  if (host.empty()) return std::string(sender);  // no domain to send a bounce back to
  if (util::istarts_with(local, "SRS0=")) {  // forwarded once already: name the first forwarder
    const std::string rest(local.substr(4));  // "=h=t=d=l"
    return "SRS1=" + hash(std::string(host) + rest) + "=" + std::string(host) + "=" + rest + "@" + std::string(domain);
  }
  if (util::istarts_with(local, "SRS1=")) {  // keep the first forwarder and its part
    // Only a well-formed SRS1 (a first forwarder before "==") is kept as
    // it is; anything else that merely starts with "SRS1=" is an ordinary
    // local part and gets an SRS0 of its own, or reverse() could not take
    // the bounce back.
    std::string_view rest = local.substr(5), h, first;
    if (take(rest, h) && take(rest, first) && !first.empty() && !rest.empty() && rest.front() == '=')
      return "SRS1=" + hash(std::string(first) + std::string(rest)) + "=" + std::string(first) + "=" +
             std::string(rest) + "@" + std::string(domain);
  }
  const std::string t = timestamp(day(now));
  return "SRS0=" + hash(t + std::string(host) + std::string(local)) + "=" + t + "=" + std::string(host) + "=" +
         std::string(local) + "@" + std::string(domain);
}

std::optional<std::string> Srs::reverse(std::string_view local_part, std::chrono::system_clock::time_point now) const {
  std::string_view rest = local_part.substr(std::min<std::size_t>(5, local_part.size())), h;
  if (util::istarts_with(local_part, "SRS1=")) {
    std::string_view first;
    if (!take(rest, h) || !take(rest, first) || first.empty() || rest.empty() || rest.front() != '=') return std::nullopt;
    if (!util::iequals(h, hash(std::string(first) + std::string(rest)))) return std::nullopt;
    return "SRS0" + std::string(rest) + "@" + std::string(first);
  }
  if (!util::istarts_with(local_part, "SRS0=")) return std::nullopt;
  std::string_view t, host;
  if (!take(rest, h) || !take(rest, t) || !take(rest, host) || host.empty() || rest.empty()) return std::nullopt;
  if (!util::iequals(h, hash(std::string(t) + std::string(host) + std::string(rest)))) return std::nullopt;
  const auto then = parse_timestamp(t);
  if (!then) return std::nullopt;
  const int age = (day(now) - *then + 1024) % 1024;
  if (age > max_age_days) return std::nullopt;
  return std::string(rest) + "@" + std::string(host);
}

}  // namespace postern::store
