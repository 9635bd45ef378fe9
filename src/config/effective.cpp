// The effective configuration as TOML (`postern check-config`): every key,
// defaults included, paths absolute, in the order of SPEC §4. Loading the
// output again gives the same Config.
#include <sstream>

#include "config/config.hpp"

namespace postern::config {
namespace {

// A TOML basic string (TOML 1.0 §String): escape quotes, backslashes and controls.
std::string str(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string path(const std::filesystem::path& p) { return str(std::string_view(p.string())); }

std::string list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + str(v[i]);
  return out + "]";
}

std::string dur(Duration d) { return str(format_duration(d)); }
const char* boolean(bool b) { return b ? "true" : "false"; }

const char* name(Role r) { return r == Role::mx ? "mx" : "submission"; }
const char* name(TlsMode t) {
  switch (t) {
    case TlsMode::none: return "none";
    case TlsMode::starttls: return "starttls";
    default: return "implicit";
  }
}

}  // namespace

std::string to_toml(const Config& c) {
  std::ostringstream o;
  const bool parenthesised = !c.source.empty() && c.source.front() == '(';
  o << "# Effective configuration " << (parenthesised ? c.source : "(" + c.source + ")") << "\n";
  o << "hostname = " << str(c.hostname) << "\n";
  o << "data_dir = " << path(c.data_dir) << "\n";
  o << "local_domains = " << list(c.local_domains) << "\n";
  o << "mailbox_path = " << str(c.mailbox_path) << "\n";
  o << "mailbox_format = " << str(c.mailbox_format == MailboxFormat::maildir ? "maildir" : "mbox") << "\n";
  o << "mailbox_sync = "
    << str(c.mailbox_sync == MailboxSync::automatic ? "auto" : c.mailbox_sync == MailboxSync::syncfs ? "syncfs" : "fsync")
    << "\n";
  o << "aliases_file = " << path(c.aliases_file) << "\n";
  o << "postmaster = " << str(c.postmaster) << "\n";
  o << "user = " << str(c.user) << "\n";
  for (auto& l : c.listeners) {
    o << "\n[[listener]]\n";
    o << "address = " << str(l.address) << "\n";
    o << "role = " << str(name(l.role)) << "\n";
    o << "tls = " << str(name(l.tls)) << "\n";
  }
  for (auto& m : c.milters) {
    o << "\n[[milter]]\n";
    o << "address = " << str(m.address) << "\n";
    std::vector<std::string> roles;
    for (auto r : m.roles) roles.emplace_back(name(r));
    o << "roles = " << list(roles) << "\n";
    o << "on_error = " << str(m.on_error == MilterOnError::accept ? "accept" : "tempfail") << "\n";
    o << "timeout = " << str(format_duration(m.timeout)) << "\n";
  }
  o << "\n[tls]\n";
  o << "cert = " << path(c.tls.cert) << "\n";
  o << "key = " << path(c.tls.key) << "\n";
  o << "\n[auth]\n";
  o << "mechanisms = " << list(c.auth.mechanisms) << "\n";
  o << "require_tls = " << boolean(c.auth.require_tls) << "\n";
  o << "max_failures_per_session = " << c.auth.max_failures_per_session << "\n";
  o << "lockout_failures = " << c.auth.lockout_failures << "\n";
  o << "lockout_window = " << dur(c.auth.lockout_window) << "\n";
  o << "lockout_duration = " << dur(c.auth.lockout_duration) << "\n";
  o << "verified_cache_ttl = " << dur(c.auth.verified_cache_ttl) << "\n";
  o << "oauth_introspection_url = " << str(c.auth.oauth_introspection_url) << "\n";
  o << "oauth_client_id = " << str(c.auth.oauth_client_id) << "\n";
  o << "oauth_client_secret_file = " << path(c.auth.oauth_client_secret_file) << "\n";
  o << "oauth_introspection_ca = " << path(c.auth.oauth_introspection_ca) << "\n";
  o << "oauth_scope = " << str(c.auth.oauth_scope) << "\n";
  o << "backend = " << str(c.auth.backend == AuthBackend::dovecot ? "dovecot" : "postern") << "\n";
  o << "dovecot_socket = " << str(c.auth.dovecot_socket) << "\n";
  o << "dovecot_timeout = " << dur(c.auth.dovecot_timeout) << "\n";
  o << "dovecot_userdb = " << str(c.auth.dovecot_userdb) << "\n";
  o << "\n[greylist]\n";
  o << "enabled = " << boolean(c.greylist.enabled) << "\n";
  o << "delay = " << dur(c.greylist.delay) << "\n";
  o << "retry_window = " << dur(c.greylist.retry_window) << "\n";
  o << "max_age = " << dur(c.greylist.max_age) << "\n";
  o << "auto_allow_after = " << c.greylist.auto_allow_after << "\n";
  o << "ipv4_prefix = " << c.greylist.ipv4_prefix << "\n";
  o << "ipv6_prefix = " << c.greylist.ipv6_prefix << "\n";
  o << "allow = " << list(c.greylist.allow) << "\n";
  o << "store = " << str(c.greylist.store) << "\n";
  o << "\n[policy]\n";
  o << "max_messages_per_ip = " << c.policy.max_messages_per_ip << "\n";
  o << "rate_window = " << dur(c.policy.rate_window) << "\n";
  o << "\n[limits]\n";
  o << "max_message_size = " << str(format_size(c.limits.max_message_size)) << "\n";
  o << "max_recipients = " << c.limits.max_recipients << "\n";
  o << "command_timeout = " << dur(c.limits.command_timeout) << "\n";
  o << "data_timeout = " << dur(c.limits.data_timeout) << "\n";
  o << "max_errors = " << c.limits.max_errors << "\n";
  o << "max_connections = " << c.limits.max_connections << "\n";
  o << "max_connections_per_ip = " << c.limits.max_connections_per_ip << "\n";
  o << "forbid_unauth_pipelining = " << boolean(c.limits.forbid_unauth_pipelining) << "\n";
  o << "\n[queue]\n";
  o << "retry_initial = " << dur(c.queue.retry_initial) << "\n";
  o << "retry_max = " << dur(c.queue.retry_max) << "\n";
  o << "lifetime = " << dur(c.queue.lifetime) << "\n";
  o << "delay_warning = " << dur(c.queue.delay_warning) << "\n";
  o << "\n[relay]\n";
  o << "smarthost = " << str(c.relay.smarthost) << "\n";
  o << "smarthost_user = " << str(c.relay.smarthost_user) << "\n";
  o << "smarthost_password_file = " << path(c.relay.smarthost_password_file) << "\n";
  o << "smarthost_oauth_token_command = " << str(c.relay.smarthost_oauth_token_command) << "\n";
  o << "smarthost_tls = "
    << str(c.relay.smarthost_tls == SmarthostTls::verify    ? "verify"
           : c.relay.smarthost_tls == SmarthostTls::encrypt ? "encrypt"
                                                            : "none")
    << "\n";
  o << "smarthost_ca = " << path(c.relay.smarthost_ca) << "\n";
  o << "routes = {";
  bool first = true;
  for (auto& [domain, target] : c.relay.routes) {
    o << (first ? " " : ", ") << str(domain) << " = " << str(target);
    first = false;
  }
  o << (first ? "}" : " }") << "\n";
  o << "dns_servers = " << list(c.relay.dns_servers) << "\n";
  o << "mta_sts = " << boolean(c.relay.mta_sts) << "\n";
  o << "\n[inbound]\n";
  o << "spf = " << boolean(c.inbound.spf) << "\n";
  o << "dkim = " << boolean(c.inbound.dkim) << "\n";
  o << "dmarc = " << boolean(c.inbound.dmarc) << "\n";
  o << "dmarc_enforce = " << boolean(c.inbound.dmarc_enforce) << "\n";
  o << "dnsbl = " << list(c.inbound.dnsbl) << "\n";
  o << "\n[delivery]\n";
  o << "transport = " << str(c.transport()) << "\n";
  o << "\n[http]\n";
  o << "listen = " << str(c.http.listen) << "\n";
  o << "allowed_hosts = " << list(c.http.allowed_hosts) << "\n";
  o << "\n[log]\n";
  o << "format = " << str(c.log_format == LogFormat::json ? "json" : "text") << "\n";
  return o.str();
}

}  // namespace postern::config
