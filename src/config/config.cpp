#include "config/config.hpp"

#include <unistd.h>

#include "util/strings.hpp"

namespace postern::config {

Error::Error(std::string f, std::size_t l, std::string k, const std::string& message)
    : std::runtime_error(message), file(std::move(f)), line(l), key(std::move(k)) {}

bool Config::is_local_domain(std::string_view domain) const {
  for (const auto& d : local_domains)
    if (util::iequals(d, domain)) return true;
  return false;
}

std::string Config::final_recipient(std::string_view recipient) const {
  auto at = recipient.rfind('@');
  // RFC 5321 §4.5.1: the bare "postmaster" and postmaster@<a local domain>.
  if (at == std::string_view::npos) return util::iequals(recipient, "postmaster") ? postmaster : std::string(recipient);
  if (util::iequals(recipient.substr(0, at), "postmaster") && is_local_domain(recipient.substr(at + 1)))
    return postmaster;
  return std::string(recipient);
}

bool Config::delivers_locally(std::string_view recipient) const {
  const std::string target = final_recipient(recipient);
  auto at = target.rfind('@');
  return at != std::string::npos && is_local_domain(std::string_view(target).substr(at + 1));
}

std::string Config::transport() const {
  switch (delivery.kind) {
    case TransportKind::lmtp_unix: return "lmtp:unix:" + delivery.lmtp_socket.string();
    case TransportKind::lmtp_inet: {
      const bool v6 = delivery.lmtp_host.find(':') != std::string::npos;
      return "lmtp:inet:" + (v6 ? "[" + delivery.lmtp_host + "]" : delivery.lmtp_host) + ":" +
             std::to_string(delivery.lmtp_port);
    }
    case TransportKind::mailbox: break;
  }
  return mailbox_format == MailboxFormat::mbox ? "mbox" : "maildir";
}

std::filesystem::path Config::mailbox_for(std::string_view localpart, std::string_view domain) const {
  std::string p = mailbox_path;
  auto substitute = [&p](std::string_view key, std::string_view value) {
    for (auto pos = p.find(key); pos != std::string::npos; pos = p.find(key, pos + value.size()))
      p.replace(pos, key.size(), value);
  };
  substitute("{domain}", util::to_lower(domain));
  substitute("{localpart}", localpart);
  return data_dir / p;
}

Config defaults() {
  Config c;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0]) c.hostname = host;
  else c.hostname = "localhost";
  c.data_dir = std::filesystem::absolute("postern-data").lexically_normal();
  c.postmaster = "postmaster@localhost";
  c.listeners = {
      Listener{"127.0.0.1:2525", "127.0.0.1", 2525, Role::mx, TlsMode::starttls},
      Listener{"127.0.0.1:2587", "127.0.0.1", 2587, Role::submission, TlsMode::starttls},
  };
  c.tls.cert = c.data_dir / "tls/cert.pem";
  c.tls.key = c.data_dir / "tls/key.pem";
  c.aliases_file = c.data_dir / "aliases";
  return c;
}

}  // namespace postern::config
