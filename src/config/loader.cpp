// Reads a TOML configuration file (SPEC §4) over the embedded defaults.
// Every key is known: an unknown key, a wrong type or a bad value is a
// config::Error naming the file, the line and the dotted key. Relative paths
// are resolved here, so the Config handed to the rest of the program only
// holds absolute paths:
//   * data_dir is relative to the directory of the config file (so a config
//     means the same thing whatever directory the server is started from);
//     --data-dir is relative to the current directory, as any option is;
//   * tls.cert, tls.key, relay.smarthost_password_file and mailbox_path are
//     relative to data_dir.
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "config/config.hpp"
#include "util/strings.hpp"

namespace postern::config {
namespace {

namespace fs = std::filesystem;

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string q(std::string_view s) { return "\"" + util::printable(s, 80) + "\""; }

// A key as it would be written in dotted form: bare when it can be, quoted otherwise.
std::string key_part(std::string_view k) {
  bool bare = !k.empty();
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      bare = false;
  return bare ? std::string(k) : q(k);
}

class Loader {
 public:
  Loader(std::string file, Config& config) : file_(std::move(file)), c_(config) {}

  // A file of [[rule]] tables (postern testbed --rules).
  std::vector<TestbedRule> rules_file(const toml::table& root) {
    std::vector<TestbedRule> out;
    walk(root, "", {{"rule", [&](auto& n) { out = rules(n, "rule"); }}});
    return out;
  }

  void load(const toml::table& root) {
    c_.postmaster.clear();  // derived in finish() unless the file names one
    walk(root, "", {
        {"hostname", [&](auto& n) {
           c_.hostname = util::to_lower(string(n));
           if (!is_domain(c_.hostname)) fail(q(c_.hostname) + " is not a host name");
         }},
        {"data_dir", [&](auto& n) {
           data_dir_ = string(n);
           if (data_dir_->empty()) fail("must not be empty");
         }},
        {"local_domains", [&](auto& n) {
           c_.local_domains.clear();
           std::set<std::string> seen;
           each_string(n, [&](std::string v, std::size_t line) {
             v = util::to_lower(v);
             if (!is_domain(v)) fail(line, key_, q(v) + " is not a domain name");
             if (!seen.insert(v).second) fail(line, key_, q(v) + " is listed twice");
             c_.local_domains.push_back(v);
           });
         }},
        {"mailbox_path", [&](auto& n) {
           c_.mailbox_path = string(n);
           if (c_.mailbox_path.find("{localpart}") == std::string::npos)
             fail("must contain {localpart} (each user needs a mailbox of their own)");
           for (auto& part : fs::path(c_.mailbox_path))
             if (part == "..") fail("must not contain \"..\"");
         }},
        {"aliases_file", [&](auto& n) { aliases_file_ = string(n); }},
        {"mailbox_format", [&](auto& n) {
           auto v = string(n);
           if (v == "maildir") c_.mailbox_format = MailboxFormat::maildir;
           else if (v == "mbox") c_.mailbox_format = MailboxFormat::mbox;
           else fail(q(v) + ": expected \"maildir\" or \"mbox\"");
         }},
        {"mailbox_sync", [&](auto& n) {
           auto v = string(n);
           if (v == "auto") c_.mailbox_sync = MailboxSync::automatic;
           else if (v == "syncfs") c_.mailbox_sync = MailboxSync::syncfs;
           else if (v == "fsync") c_.mailbox_sync = MailboxSync::fsync;
           else fail(q(v) + ": expected \"auto\", \"syncfs\" or \"fsync\"");
         }},
        {"postmaster", [&](auto& n) {
           c_.postmaster = string(n);
           if (c_.postmaster.empty()) return;
           auto at = c_.postmaster.rfind('@');
           bool ok = at != std::string::npos && at > 0 && is_domain(std::string_view(c_.postmaster).substr(at + 1));
           for (unsigned char ch : c_.postmaster)
             if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>') ok = false;
           if (!ok) fail(q(c_.postmaster) + ": expected an address such as \"admin@example.org\", or \"\"");
         }},
        {"user", [&](auto& n) {
           c_.user = string(n);
           bool ok = c_.user.size() <= 32 && (c_.user.empty() || c_.user.front() != '-');
           for (char ch : c_.user)
             if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                   ch == '-' || ch == '.'))
               ok = false;
           if (!ok) fail(q(c_.user) + " is not a user name");
         }},
        {"listener", [&](auto& n) { listeners(n); }},
        {"milter", [&](auto& n) { milters(n); }},
        {"tls", [&](auto& n) { walk(table(n), "tls", {
             {"cert", [&](auto& v) { cert_ = path(v); }},
             {"key", [&](auto& v) { key_file_ = path(v); }},
         }); }},
        {"auth", [&](auto& n) { auth(table(n)); }},
        {"greylist", [&](auto& n) { greylist(table(n)); }},
        {"policy", [&](auto& n) { walk(table(n), "policy", {
             {"max_messages_per_ip", [&](auto& v) { c_.policy.max_messages_per_ip = integer(v, 0); }},
             {"rate_window", [&](auto& v) { c_.policy.rate_window = duration(v, 1); }},
         }); }},
        {"limits", [&](auto& n) { limits(table(n)); }},
        {"queue", [&](auto& n) { walk(table(n), "queue", {
             {"retry_initial", [&](auto& v) { c_.queue.retry_initial = duration(v, 1); }},
             {"retry_max", [&](auto& v) { c_.queue.retry_max = duration(v, 1); }},
             {"lifetime", [&](auto& v) { c_.queue.lifetime = duration(v, 1); }},
             {"delay_warning", [&](auto& v) { c_.queue.delay_warning = duration(v, 0); }},
         }); }},
        {"relay", [&](auto& n) { relay(table(n)); }},
        {"delivery", [&](auto& n) { walk(table(n), "delivery", {
             {"transport", [&](auto& v) { transport(string(v)); }},
         }); }},
        {"inbound", [&](auto& n) { inbound(table(n)); }},
        {"http", [&](auto& n) { walk(table(n), "http", {
             {"listen", [&](auto& v) {
                c_.http.listen = string(v);
                if (c_.http.listen.empty()) return;
                try {
                  parse_listen_address(c_.http.listen);
                } catch (const std::invalid_argument& e) {
                  fail(e.what());
                }
              }},
             {"allowed_hosts", [&](auto& v) {
                c_.http.allowed_hosts.clear();
                each_string(v, [&](std::string h, std::size_t line) {
                  if (h != "*" && !is_domain(util::to_lower(h))) fail(line, key_, q(h) + " is not a host name");
                  c_.http.allowed_hosts.push_back(util::to_lower(h));
                });
              }},
         }); }},
        {"testbed", [&](auto& n) { walk(table(n), "testbed", {
             {"users", [&](auto& v) {
                c_.testbed.users.clear();
                for (auto&& [k, pw] : table(v)) {
                  if (!pw.is_string()) fail(std::string("expected a password string for ") + q(k.str()) + ", got " + type_name(pw));
                  c_.testbed.users[std::string(k.str())] = pw.as_string()->get();
                }
              }},
             {"rule", [&](auto& v) { c_.testbed.rules = rules(v, "testbed.rule"); }},
             {"max_messages", [&](auto& v) { c_.testbed.max_messages = integer(v, 0, 1'000'000); }},
             {"max_transcript_size", [&](auto& v) { c_.testbed.max_transcript_size = size(v, 1 << 20); }},
         }); }},
        {"log", [&](auto& n) { walk(table(n), "log", {
             {"format", [&](auto& v) {
                auto f = string(v);
                if (f == "text") c_.log_format = LogFormat::text;
                else if (f == "json") c_.log_format = LogFormat::json;
                else fail(q(f) + ": expected \"text\" or \"json\"");
              }},
         }); }},
    });
  }

  // Resolves paths and checks what involves more than one key.
  void finish(const fs::path& config_dir, const std::optional<fs::path>& data_dir_override) {
    if (data_dir_override) c_.data_dir = fs::absolute(*data_dir_override).lexically_normal();
    else if (data_dir_) c_.data_dir = (config_dir / *data_dir_).lexically_normal();
    auto in_data = [&](const std::optional<std::string>& p, const char* fallback) {
      return (c_.data_dir / (p ? fs::path(*p) : fs::path(fallback))).lexically_normal();
    };
    c_.tls.cert = in_data(cert_, "tls/cert.pem");
    c_.tls.key = in_data(key_file_, "tls/key.pem");
    c_.tls.named = c_.tls.cert != in_data(std::nullopt, "tls/cert.pem") || c_.tls.key != in_data(std::nullopt, "tls/key.pem");
    if (password_file_ && !password_file_->empty()) c_.relay.smarthost_password_file = in_data(password_file_, "");
    if (smarthost_ca_ && !smarthost_ca_->empty()) c_.relay.smarthost_ca = in_data(smarthost_ca_, "");
    if (oauth_secret_file_ && !oauth_secret_file_->empty()) c_.auth.oauth_client_secret_file = in_data(oauth_secret_file_, "");
    if (oauth_ca_ && !oauth_ca_->empty()) c_.auth.oauth_introspection_ca = in_data(oauth_ca_, "");
    if (dovecot_socket_ && !dovecot_socket_->empty())
      c_.auth.dovecot_socket = util::istarts_with(*dovecot_socket_, "inet:") ? *dovecot_socket_ : in_data(dovecot_socket_, "").string();
    if (dovecot_userdb_ && !dovecot_userdb_->empty())
      c_.auth.dovecot_userdb = util::istarts_with(*dovecot_userdb_, "inet:") ? *dovecot_userdb_ : in_data(dovecot_userdb_, "").string();
    if (c_.auth.backend == AuthBackend::dovecot && c_.auth.dovecot_socket.empty())
      fail(line("auth.backend"), "auth.dovecot_socket",
           "is empty, but auth.backend is \"dovecot\": name Dovecot's auth-client socket (a path, or \"inet:HOST:PORT\")");
    if (aliases_file_ && aliases_file_->empty()) c_.aliases_file.clear();
    else c_.aliases_file = in_data(aliases_file_, "aliases");

    if (transport_format_ && line("mailbox_format") && *transport_format_ != c_.mailbox_format)
      fail(line("delivery.transport"), "delivery.transport",
           "says " + q(*transport_format_ == MailboxFormat::mbox ? "mbox" : "maildir") + " but mailbox_format says " +
               q(c_.mailbox_format == MailboxFormat::mbox ? "mbox" : "maildir") + ": set one of them");
    if (transport_format_) c_.mailbox_format = *transport_format_;
    if (c_.delivery.kind == TransportKind::lmtp_unix && c_.delivery.lmtp_socket.is_relative())
      c_.delivery.lmtp_socket = (c_.data_dir / c_.delivery.lmtp_socket).lexically_normal();

    if (c_.postmaster.empty())
      c_.postmaster = "postmaster@" + (c_.local_domains.empty() ? c_.hostname : c_.local_domains.front());

    bool submission = false;
    for (auto& l : c_.listeners) submission |= l.role == Role::submission;
    if (submission && c_.auth.mechanisms.empty())
      fail(line("auth.mechanisms"), "auth.mechanisms", "is empty, but a submission listener requires AUTH");

    if (c_.greylist.retry_window <= c_.greylist.delay)
      fail(line("greylist.retry_window", "greylist.delay"), "greylist.retry_window",
           "must be longer than greylist.delay (" + format_duration(c_.greylist.delay) + ")");
    if (c_.queue.retry_max < c_.queue.retry_initial)
      fail(line("queue.retry_max", "queue.retry_initial"), "queue.retry_max",
           "must not be shorter than queue.retry_initial (" + format_duration(c_.queue.retry_initial) + ")");
    // The default warning time is dropped for a lifetime it would not fit
    // in; one written in the file must fit.
    if (!line("queue.delay_warning") && c_.queue.delay_warning >= c_.queue.lifetime) c_.queue.delay_warning = {};
    if (c_.queue.delay_warning.count() != 0 && c_.queue.delay_warning >= c_.queue.lifetime)
      fail(line("queue.delay_warning", "queue.lifetime"), "queue.delay_warning",
           "must be shorter than queue.lifetime (" + format_duration(c_.queue.lifetime) + "), or \"0s\" for none");
    if (c_.limits.max_connections_per_ip > c_.limits.max_connections)
      fail(line("limits.max_connections_per_ip", "limits.max_connections"), "limits.max_connections_per_ip",
           "must not exceed limits.max_connections (" + std::to_string(c_.limits.max_connections) + ")");
    if (c_.inbound.dmarc && !(c_.inbound.spf && c_.inbound.dkim))
      fail(line("inbound.dmarc"), "inbound.dmarc", "needs inbound.spf and inbound.dkim (DMARC reads their results)");
    if (c_.inbound.dmarc_enforce && !c_.inbound.dmarc)
      fail(line("inbound.dmarc_enforce"), "inbound.dmarc_enforce", "is true, but inbound.dmarc is false");
    if (!c_.relay.smarthost_user.empty() && c_.relay.smarthost.empty())
      fail(line("relay.smarthost_user"), "relay.smarthost_user", "is set, but relay.smarthost is empty");
    const bool oauth = !c_.relay.smarthost_oauth_token_command.empty();
    if (!c_.relay.smarthost_user.empty() && c_.relay.smarthost_password_file.empty() && !oauth)
      fail(line("relay.smarthost_user"), "relay.smarthost_user",
           "needs relay.smarthost_password_file or relay.smarthost_oauth_token_command");
    if (oauth && !c_.relay.smarthost_password_file.empty())
      fail(line("relay.smarthost_oauth_token_command"), "relay.smarthost_oauth_token_command",
           "cannot go with relay.smarthost_password_file: set one of them");
    if (oauth && c_.relay.smarthost_user.empty())
      fail(line("relay.smarthost_oauth_token_command"), "relay.smarthost_oauth_token_command",
           "is set, but relay.smarthost_user is empty");
    if (c_.relay.smarthost_user.empty() && !c_.relay.smarthost_password_file.empty())
      fail(line("relay.smarthost_password_file"), "relay.smarthost_password_file",
           "is set, but relay.smarthost_user is empty");
  }

 private:
  using Handler = std::function<void(const toml::node&)>;

  std::string file_;
  Config& c_;
  std::string key_;      // dotted key being read
  std::size_t line_ = 0;  // its line
  std::map<std::string, std::size_t> lines_;  // every key read -> line, for checks across keys
  std::optional<std::string> data_dir_, cert_, key_file_, password_file_, smarthost_ca_, aliases_file_;
  std::optional<std::string> oauth_secret_file_, oauth_ca_, dovecot_socket_, dovecot_userdb_;

  // A Dovecot socket: "inet:HOST:PORT" or a unix socket path ("" = none).
  std::string socket_address(std::string v) {
    if (util::istarts_with(v, "inet:")) {
      std::uint16_t port = 0;
      try {
        port = parse_endpoint(v.substr(5), 0, false).port;
      } catch (const std::invalid_argument& e) {
        fail(q(v) + ": expected \"inet:HOST:PORT\" (" + e.what() + ")");
      }
      if (port == 0) fail(q(v) + ": expected \"inet:HOST:PORT\" with a port");
    } else if (v.find('\0') != std::string::npos || v.size() > 100) {
      fail(q(v) + ": expected a unix socket path (at most 100 octets) or \"inet:HOST:PORT\"");
    }
    return v;
  }
  std::optional<MailboxFormat> transport_format_;  // [delivery] transport = "maildir" | "mbox"

  // [delivery] transport (SPEC §12).
  void transport(const std::string& v) {
    c_.delivery = Delivery{};
    transport_format_.reset();
    const std::string_view unix_prefix = "lmtp:unix:", inet_prefix = "lmtp:inet:";
    if (v == "maildir") transport_format_ = MailboxFormat::maildir;
    else if (v == "mbox") transport_format_ = MailboxFormat::mbox;
    else if (v.starts_with(unix_prefix)) {
      const std::string p = v.substr(unix_prefix.size());
      if (p.empty()) fail(q(v) + ": expected a socket path after \"lmtp:unix:\"");
      // sockaddr_un holds 108 octets with the terminating NUL.
      if (p.size() > 107) fail(q(v) + ": the socket path is longer than 107 octets");
      for (unsigned char ch : p)
        if (ch < 0x20 || ch == 0x7f) fail(q(v) + ": control characters are not allowed in the socket path");
      c_.delivery.kind = TransportKind::lmtp_unix;
      c_.delivery.lmtp_socket = p;
    } else if (v.starts_with(inet_prefix)) {
      try {
        // LMTP has no port of its own; 24 is what Postfix assumes (RFC 2033 §5 forbids 25).
        auto e = parse_endpoint(std::string_view(v).substr(inet_prefix.size()), 24);
        c_.delivery.kind = TransportKind::lmtp_inet;
        c_.delivery.lmtp_host = e.host;
        c_.delivery.lmtp_port = e.port;
      } catch (const std::invalid_argument& e) {
        fail(q(v) + ": " + e.what());
      }
    } else {
      fail(q(v) + ": expected \"maildir\", \"mbox\", \"lmtp:unix:PATH\" or \"lmtp:inet:HOST:PORT\"");
    }
  }

  [[noreturn]] void fail(std::size_t line, const std::string& key, const std::string& message) const {
    throw Error(file_, line, key, message);
  }
  [[noreturn]] void fail(const std::string& message) const { fail(line_, key_, message); }

  std::size_t line(const std::string& key, const std::string& alternative = "") const {
    if (auto it = lines_.find(key); it != lines_.end()) return it->second;
    if (auto it = lines_.find(alternative); it != lines_.end()) return it->second;
    return 0;
  }

  static std::size_t line_of(const toml::node& n) { return n.source().begin.line; }

  // Calls the handler of each key in file order; a key without one is unknown.
  void walk(const toml::table& t, const std::string& prefix, const std::map<std::string_view, Handler>& handlers) {
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (auto&& [k, v] : t) entries.emplace_back(&k, &v);
    auto line = [](auto& e) {
      auto l = e.first->source().begin.line;
      return l ? l : line_of(*e.second);
    };
    std::stable_sort(entries.begin(), entries.end(), [&](auto& a, auto& b) { return line(a) < line(b); });
    for (auto& e : entries) {
      std::string dotted = (prefix.empty() ? "" : prefix + ".") + key_part(e.first->str());
      key_ = dotted;
      line_ = line(e);
      lines_[dotted] = line_;
      auto h = handlers.find(e.first->str());
      if (h == handlers.end()) fail("unknown key");
      h->second(*e.second);
    }
  }

  [[noreturn]] void wrong_type(const toml::node& n, const char* expected) {
    fail(std::string("expected ") + expected + ", got " + type_name(n));
  }

  const toml::table& table(const toml::node& n) {
    if (!n.is_table()) wrong_type(n, "a table");
    return *n.as_table();
  }

  std::string string(const toml::node& n) {
    if (!n.is_string()) wrong_type(n, "a string");
    return n.as_string()->get();
  }

  std::string path(const toml::node& n) {
    auto p = string(n);
    if (p.empty()) fail("must not be empty");
    return p;
  }

  bool boolean(const toml::node& n) {
    if (!n.is_boolean()) wrong_type(n, "a boolean (true or false)");
    return n.as_boolean()->get();
  }

  unsigned integer(const toml::node& n, std::int64_t min, std::int64_t max = 1'000'000'000) {
    if (!n.is_integer()) wrong_type(n, "an integer");
    auto v = n.as_integer()->get();
    if (v < min || v > max)
      fail(std::to_string(v) + " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")");
    return static_cast<unsigned>(v);
  }

  // A duration is a string with a unit, or an integer number of seconds.
  Duration duration(const toml::node& n, std::int64_t min_seconds) {
    Duration d;
    if (n.is_integer()) {
      auto v = n.as_integer()->get();
      if (v < 0) fail(std::to_string(v) + ": a duration cannot be negative");
      d = parse_duration(std::to_string(v));
    } else if (n.is_string()) {
      try {
        d = parse_duration(n.as_string()->get());
      } catch (const std::invalid_argument& e) {
        fail(std::string("invalid duration ") + e.what());
      }
    } else {
      wrong_type(n, "a duration such as \"30s\", \"5m\", \"2h\" or \"35d\"");
    }
    if (d.count() < min_seconds) fail("must be at least " + format_duration(Duration(min_seconds)));
    return d;
  }

  // A size is a string with an optional unit, or an integer number of octets.
  std::uint64_t size(const toml::node& n, std::uint64_t min) {
    std::uint64_t s = 0;
    try {
      if (n.is_integer()) {
        auto v = n.as_integer()->get();
        if (v < 0) fail(std::to_string(v) + ": a size cannot be negative");
        s = parse_size(std::to_string(v));
      } else if (n.is_string()) {
        s = parse_size(n.as_string()->get());
      } else {
        wrong_type(n, "a size such as \"25M\" or \"512K\"");
      }
    } catch (const std::invalid_argument& e) {
      fail(std::string("invalid size ") + e.what());
    }
    if (s < min) fail("must be at least " + format_size(min));
    return s;
  }

  void each_string(const toml::node& n, const std::function<void(std::string, std::size_t)>& f) {
    if (!n.is_array()) wrong_type(n, "an array of strings");
    std::size_t i = 0;
    for (auto& el : *n.as_array()) {
      ++i;
      auto l = line_of(el) ? line_of(el) : line_;
      if (!el.is_string())
        fail(l, key_, "element " + std::to_string(i) + ": expected a string, got " + type_name(el));
      f(el.as_string()->get(), l);
    }
  }

  void listeners(const toml::node& n) {
    if (!n.is_array() || !n.as_array()->is_array_of_tables() || n.as_array()->empty()) {
      if (n.is_table()) fail("write each listener as [[listener]], not [listener]");
      if (n.is_array() && n.as_array()->empty()) fail("at least one [[listener]] is needed");
      wrong_type(n, "an array of tables ([[listener]])");
    }
    c_.listeners.clear();
    std::set<std::pair<std::string, std::uint16_t>> seen;
    std::size_t i = 0;
    for (auto& el : *n.as_array()) {
      ++i;
      std::string prefix = "listener[" + std::to_string(i) + "]";
      Listener l;
      bool has_address = false, has_role = false;
      walk(*el.as_table(), prefix, {
          {"address", [&](auto& v) {
             l.address = string(v);
             try {
               auto ep = parse_listen_address(l.address);
               l.host = ep.host;
               l.port = ep.port;
             } catch (const std::invalid_argument& e) {
               fail(std::string("invalid address ") + e.what());
             }
             if (!seen.insert({l.host, l.port}).second) fail(q(l.address) + " is already used by another listener");
             has_address = true;
           }},
          {"role", [&](auto& v) {
             auto r = string(v);
             if (r == "mx") l.role = Role::mx;
             else if (r == "submission") l.role = Role::submission;
             else fail(q(r) + ": expected \"mx\" or \"submission\"");
             has_role = true;
           }},
          {"tls", [&](auto& v) {
             auto t = string(v);
             if (t == "none") l.tls = TlsMode::none;
             else if (t == "starttls") l.tls = TlsMode::starttls;
             else if (t == "implicit") l.tls = TlsMode::implicit;
             else fail(q(t) + ": expected \"none\", \"starttls\" or \"implicit\"");
           }},
      });
      auto table_line = line_of(el);
      if (!has_address) fail(table_line, prefix + ".address", "missing: every listener needs an address");
      if (!has_role) fail(table_line, prefix + ".role", "missing: every listener needs a role (\"mx\" or \"submission\")");
      c_.listeners.push_back(l);
    }
  }

  void milters(const toml::node& n) {
    if (!n.is_array() || !n.as_array()->is_array_of_tables()) {
      if (n.is_table()) fail("write each filter as [[milter]], not [milter]");
      wrong_type(n, "an array of tables ([[milter]])");
    }
    c_.milters.clear();
    std::size_t i = 0;
    for (auto& el : *n.as_array()) {
      ++i;
      std::string prefix = "milter[" + std::to_string(i) + "]";
      Milter m;
      bool has_address = false;
      walk(*el.as_table(), prefix, {
          {"address", [&](auto& v) {
             m.address = string(v);
             try {
               parse_milter_address(m.address, m);
             } catch (const std::invalid_argument& e) {
               fail(std::string("invalid address ") + e.what());
             }
             has_address = true;
           }},
          {"roles", [&](auto& v) {
             m.roles.clear();
             each_string(v, [&](std::string r, std::size_t line) {
               Role role;
               if (r == "mx") role = Role::mx;
               else if (r == "submission") role = Role::submission;
               else fail(line, key_, q(r) + ": expected \"mx\" or \"submission\"");
               if (std::find(m.roles.begin(), m.roles.end(), role) != m.roles.end())
                 fail(line, key_, q(r) + " is listed twice");
               m.roles.push_back(role);
             });
             if (m.roles.empty()) fail("is empty: name the listener roles whose mail the filter sees");
           }},
          {"on_error", [&](auto& v) {
             auto e = string(v);
             if (e == "tempfail") m.on_error = MilterOnError::tempfail;
             else if (e == "accept") m.on_error = MilterOnError::accept;
             else fail(q(e) + ": expected \"tempfail\" or \"accept\"");
           }},
          {"timeout", [&](auto& v) {
             m.timeout = duration(v, 1);
             if (m.timeout > std::chrono::hours(1)) fail("must be at most 1h");
           }},
      });
      if (!has_address) fail(line_of(el), prefix + ".address", "missing: every milter needs an address");
      c_.milters.push_back(std::move(m));
    }
  }

  void auth(const toml::table& t) {
    walk(t, "auth", {
        {"mechanisms", [&](auto& n) {
           c_.auth.mechanisms.clear();
           auto& known = known_mechanisms();
           each_string(n, [&](std::string m, std::size_t line) {
             for (auto& ch : m) ch = (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 'a' + 'A') : ch;
             if (std::find(known.begin(), known.end(), m) == known.end()) {
               std::string list;
               for (auto& k : known) list += (list.empty() ? "" : ", ") + k;
               fail(line, key_, q(m) + " is not a known mechanism (known: " + list + ")");
             }
             if (std::find(c_.auth.mechanisms.begin(), c_.auth.mechanisms.end(), m) != c_.auth.mechanisms.end())
               fail(line, key_, q(m) + " is listed twice");
             c_.auth.mechanisms.push_back(m);
           });
         }},
        {"require_tls", [&](auto& n) { c_.auth.require_tls = boolean(n); }},
        {"max_failures_per_session", [&](auto& n) { c_.auth.max_failures_per_session = integer(n, 1, 1000); }},
        {"lockout_failures", [&](auto& n) { c_.auth.lockout_failures = integer(n, 1); }},
        {"lockout_window", [&](auto& n) { c_.auth.lockout_window = duration(n, 1); }},
        {"lockout_duration", [&](auto& n) { c_.auth.lockout_duration = duration(n, 1); }},
        {"verified_cache_ttl", [&](auto& n) {
           c_.auth.verified_cache_ttl = duration(n, 0);
           if (c_.auth.verified_cache_ttl > std::chrono::hours(24)) fail("must be at most 1d");
         }},
        {"oauth_introspection_url", [&](auto& n) {
           c_.auth.oauth_introspection_url = string(n);
           const auto& u = c_.auth.oauth_introspection_url;
           if (!u.empty() && !util::istarts_with(u, "https://")) fail(q(u) + ": expected an https:// URL");
         }},
        {"oauth_client_id", [&](auto& n) { c_.auth.oauth_client_id = string(n); }},
        {"oauth_client_secret_file", [&](auto& n) { oauth_secret_file_ = string(n); }},
        {"oauth_introspection_ca", [&](auto& n) { oauth_ca_ = string(n); }},
        {"oauth_scope", [&](auto& n) { c_.auth.oauth_scope = string(n); }},
        {"backend", [&](auto& n) {
           auto b = string(n);
           if (b == "postern") c_.auth.backend = AuthBackend::postern;
           else if (b == "dovecot") c_.auth.backend = AuthBackend::dovecot;
           else fail(q(b) + ": expected \"postern\" or \"dovecot\"");
         }},
        {"dovecot_userdb", [&](auto& n) {
           dovecot_userdb_ = socket_address(string(n));
         }},
        {"dovecot_socket", [&](auto& n) {
           auto v = string(n);
           if (util::istarts_with(v, "inet:")) {
             std::uint16_t port = 0;
             try {
               port = parse_endpoint(v.substr(5), 0, false).port;
             } catch (const std::invalid_argument& e) {
               fail(q(v) + ": expected \"inet:HOST:PORT\" (" + e.what() + ")");
             }
             if (port == 0) fail(q(v) + ": expected \"inet:HOST:PORT\" with a port");
           } else if (v.find('\0') != std::string::npos || v.size() > 100) {
             fail(q(v) + ": expected a unix socket path (at most 100 octets) or \"inet:HOST:PORT\"");
           }
           dovecot_socket_ = v;
         }},
        {"dovecot_timeout", [&](auto& n) { c_.auth.dovecot_timeout = duration(n, 1); }},
    });
  }

  void greylist(const toml::table& t) {
    walk(t, "greylist", {
        {"enabled", [&](auto& n) { c_.greylist.enabled = boolean(n); }},
        {"delay", [&](auto& n) { c_.greylist.delay = duration(n, 0); }},
        {"retry_window", [&](auto& n) { c_.greylist.retry_window = duration(n, 1); }},
        {"max_age", [&](auto& n) { c_.greylist.max_age = duration(n, 1); }},
        {"auto_allow_after", [&](auto& n) { c_.greylist.auto_allow_after = integer(n, 0); }},
        {"ipv4_prefix", [&](auto& n) { c_.greylist.ipv4_prefix = integer(n, 1, 32); }},
        {"ipv6_prefix", [&](auto& n) { c_.greylist.ipv6_prefix = integer(n, 1, 128); }},
        {"allow", [&](auto& n) {
           c_.greylist.allow.clear();
           each_string(n, [&](std::string v, std::size_t line) {
             try {
               c_.greylist.allow.push_back(parse_allow_entry(v));
             } catch (const std::invalid_argument& e) {
               fail(line, key_, std::string("invalid entry ") + e.what());
             }
           });
         }},
        {"store", [&](auto& n) {
           auto s = string(n);
           if (s != "sqlite") {
             try {
               parse_redis_url(s);
             } catch (const std::invalid_argument& e) {
               fail(std::string("invalid store ") + e.what());
             }
           }
           c_.greylist.store = s;
         }},
    });
  }

  void limits(const toml::table& t) {
    walk(t, "limits", {
        {"max_message_size", [&](auto& n) { c_.limits.max_message_size = size(n, 1024); }},
        {"max_recipients", [&](auto& n) { c_.limits.max_recipients = integer(n, 1, 100000); }},
        {"command_timeout", [&](auto& n) { c_.limits.command_timeout = duration(n, 1); }},
        {"data_timeout", [&](auto& n) { c_.limits.data_timeout = duration(n, 1); }},
        {"max_errors", [&](auto& n) { c_.limits.max_errors = integer(n, 1, 100000); }},
        {"max_connections", [&](auto& n) { c_.limits.max_connections = integer(n, 1, 10'000'000); }},
        {"max_connections_per_ip", [&](auto& n) { c_.limits.max_connections_per_ip = integer(n, 1, 10'000'000); }},
        {"forbid_unauth_pipelining", [&](auto& n) { c_.limits.forbid_unauth_pipelining = boolean(n); }},
    });
  }

  void relay(const toml::table& t) {
    auto endpoint = [&](const std::string& v, std::size_t line, const std::string& key, bool ip_only) {
      try {
        parse_endpoint(v, ip_only ? 53 : 25, ip_only);
      } catch (const std::invalid_argument& e) {
        fail(line, key, std::string("invalid address ") + e.what());
      }
    };
    walk(t, "relay", {
        {"smarthost", [&](auto& n) {
           c_.relay.smarthost = string(n);
           if (!c_.relay.smarthost.empty()) endpoint(c_.relay.smarthost, line_, key_, false);
         }},
        {"smarthost_tls", [&](auto& n) {
           auto v = string(n);
           if (v == "verify") c_.relay.smarthost_tls = SmarthostTls::verify;
           else if (v == "encrypt") c_.relay.smarthost_tls = SmarthostTls::encrypt;
           else if (v == "none") c_.relay.smarthost_tls = SmarthostTls::none;
           else fail(q(v) + ": expected \"verify\", \"encrypt\" or \"none\"");
         }},
        {"smarthost_ca", [&](auto& n) { smarthost_ca_ = string(n); }},
        {"mta_sts", [&](auto& n) { c_.relay.mta_sts = boolean(n); }},
        {"smarthost_user", [&](auto& n) { c_.relay.smarthost_user = string(n); }},
        {"smarthost_password_file", [&](auto& n) { password_file_ = string(n); }},
        {"smarthost_oauth_token_command", [&](auto& n) { c_.relay.smarthost_oauth_token_command = string(n); }},
        {"routes", [&](auto& n) {
           c_.relay.routes.clear();
           walk_routes(table(n));
         }},
        {"dns_servers", [&](auto& n) {
           c_.relay.dns_servers.clear();
           each_string(n, [&](std::string v, std::size_t line) {
             endpoint(v, line, key_, true);
             c_.relay.dns_servers.push_back(v);
           });
         }},
    });
  }

  void inbound(const toml::table& t) {
    walk(t, "inbound", {
        {"spf", [&](auto& n) { c_.inbound.spf = boolean(n); }},
        {"dkim", [&](auto& n) { c_.inbound.dkim = boolean(n); }},
        {"dmarc", [&](auto& n) { c_.inbound.dmarc = boolean(n); }},
        {"dmarc_enforce", [&](auto& n) { c_.inbound.dmarc_enforce = boolean(n); }},
        {"dnsbl", [&](auto& n) {
           c_.inbound.dnsbl.clear();
           each_string(n, [&](std::string v, std::size_t line) {
             v = util::to_lower(v);
             if (!dns_zone(v)) fail(line, key_, q(v) + " is not a DNS zone (e.g. \"zen.spamhaus.org\")");
             c_.inbound.dnsbl.push_back(v);
           });
         }},
    });
  }

  // A DNS block list's zone: labels of letters, digits and '-', two at least.
  static bool dns_zone(std::string_view z) {
    if (z.empty() || z.size() > 200 || z.front() == '.' || z.back() == '.' || z.find("..") != std::string_view::npos ||
        z.find('.') == std::string_view::npos)
      return false;
    std::size_t label = 0;
    for (char ch : z) {
      if (ch == '.') {
        label = 0;
        continue;
      }
      if (++label > 63) return false;
      if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) return false;
    }
    return true;
  }

  std::vector<TestbedRule> rules(const toml::node& n, const std::string& name) {
    if (!n.is_array() || !n.as_array()->is_array_of_tables()) wrong_type(n, "an array of tables ([[rule]])");
    std::vector<TestbedRule> out;
    std::size_t i = 0;
    for (auto& el : *n.as_array()) {
      ++i;
      const std::string prefix = name + "[" + std::to_string(i) + "]";
      TestbedRule r;
      walk(*el.as_table(), prefix, {
          {"command", [&](auto& v) {
             r.command = string(v);
             for (auto& ch : r.command) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
           }},
          {"from", [&](auto& v) { r.from = string(v); }},
          {"to", [&](auto& v) { r.to = string(v); }},
          {"user", [&](auto& v) { r.user = string(v); }},
          {"reply", [&](auto& v) { r.reply = string(v); }},
          {"times", [&](auto& v) { r.times = integer(v, 0); }},
          {"delay", [&](auto& v) { r.delay = duration(v, 0); }},
          {"action", [&](auto& v) { r.action = string(v); }},
          {"rate", [&](auto& v) {
             try {
               std::tie(r.rate_count, r.rate_window) = parse_rate(string(v));
             } catch (const std::invalid_argument& e) {
               fail(e.what());
             }
           }},
          {"throttle", [&](auto& v) {
             try {
               r.throttle = parse_throttle(string(v));
             } catch (const std::invalid_argument& e) {
               fail(e.what());
             }
           }},
      });
      if (auto why = check_testbed_rule(r); !why.empty()) fail(line_of(el), prefix, why);
      out.push_back(std::move(r));
    }
    return out;
  }

  void walk_routes(const toml::table& t) {
    for (auto&& [k, v] : t) {
      std::string domain = util::to_lower(k.str());
      std::string key = "relay.routes." + key_part(k.str());
      std::size_t line = k.source().begin.line ? k.source().begin.line : line_of(v);
      if (!is_domain(domain)) fail(line, key, q(k.str()) + " is not a domain name");
      if (!v.is_string()) fail(line, key, std::string("expected a string \"host:port\", got ") + type_name(v));
      std::string target = v.as_string()->get();
      try {
        parse_endpoint(target, 25);
      } catch (const std::invalid_argument& e) {
        fail(line, key, std::string("invalid address ") + e.what());
      }
      if (!c_.relay.routes.emplace(domain, target).second) fail(line, key, "route for " + q(domain) + " given twice");
    }
  }
};

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string(), 0, "", std::string("cannot read: ") + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw Error(file.string(), 0, "", std::string("cannot read: ") + std::strerror(errno));
  return s.str();
}

// "NNN c.s.d" with c the class of NNN (RFC 3463 §2: 1–3 digits per subject and detail).
bool enhanced_code_follows(const std::string& t) {
  if (t.size() < 9 || t[3] != ' ' || t[4] != t[0] || t[5] != '.') return false;
  std::size_t i = 6;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9' && digits < 4) ++i, ++digits;
    if (digits == 0 || digits > 3) return false;
    if (part == 0 && (i >= t.size() || t[i++] != '.')) return false;
  }
  return i == t.size() || t[i] == ' ';
}

}  // namespace

std::string check_testbed_rule(TestbedRule& r) {
  static const std::set<std::string> commands{"EHLO", "STARTTLS", "MAIL", "RCPT", "DATA", "DOT", "AUTH"};
  if (!commands.count(r.command))
    return "command " + q(r.command) + ": expected EHLO, STARTTLS, MAIL, RCPT, DATA, DOT or AUTH";
  for (const auto& [key, glob] : {std::pair<const char*, const std::string&>{"from", r.from}, {"to", r.to}, {"user", r.user}})
    if (glob.size() > 512) return std::string(key) + ": at most 512 characters, got " + std::to_string(glob.size());
  if (r.action != "reply" && r.action != "drop" && r.action != "shutdown")
    return "action " + q(r.action) + ": expected \"reply\", \"drop\" or \"shutdown\"";
  if (r.throttle > 0) {
    if (r.command != "DATA") return "throttle: only with command \"DATA\" (the body that follows it is read slowly)";
    if (r.action != "reply" || !r.reply.empty())
      return "throttle: a throttled DATA is accepted at that speed; give no reply or action";
    return "";
  }
  if (r.action == "shutdown" && r.reply.empty()) r.reply = "421 4.3.2 Service shutting down";
  if (r.action == "drop") return "";
  const auto& t = r.reply;
  if (t.empty()) return "reply is required (such as \"450 4.7.1 Try again later\"), or action \"drop\"";
  const bool code = t.size() >= 3 && t[0] >= '2' && t[0] <= '5' && t[1] >= '0' && t[1] <= '9' && t[2] >= '0' &&
                    t[2] <= '9' && (t.size() == 3 || t[3] == ' ');
  if (!code) return "reply " + q(t) + ": expected a reply such as \"450 4.7.1 Try again later\"";
  // What the session can act on: a refusal, a 235 that authenticates, a 2xx that takes a recipient.
  const bool positive_ok = (r.command == "AUTH" && t.rfind("235", 0) == 0) || (r.command == "RCPT" && t[0] == '2');
  if (t[0] != '4' && t[0] != '5' && !positive_ok)
    return "reply " + q(t) + ": " + r.command + " rules reply 4xx or 5xx" +
           (r.command == "AUTH" ? " (or 235)" : r.command == "RCPT" ? " (or 2xx)" : "");
  if (!enhanced_code_follows(t))
    return "reply " + q(t) + ": expected an enhanced code of the same class after the basic one (RFC 3463), as in \"" +
           t.substr(0, 3) + " " + t[0] + ".7.1 text\"";
  // RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with its CRLF.
  if (t.size() > 510) return "reply: at most 510 characters (one SMTP reply line), got " + std::to_string(t.size());
  for (unsigned char c : t)
    if (c < 0x20 || c == 0x7f) return "reply " + q(t) + ": control characters are not allowed";
  if (r.action == "shutdown" && t.rfind("421", 0) != 0) return "a shutdown replies 421, not " + t.substr(0, 3);
  return "";
}

std::vector<TestbedRule> load_testbed_rules(const fs::path& file) {
  const std::string name = file.string();
  toml::table root;
  try {
    root = toml::parse(read_file(file), name);
  } catch (const toml::parse_error& e) {
    throw Error(name, e.source().begin.line, "", std::string("TOML syntax: ") + std::string(e.description()));
  }
  Config scratch = defaults();
  Loader loader(name, scratch);
  return loader.rules_file(root);
}

Config load(const std::optional<fs::path>& file, const std::optional<fs::path>& data_dir_override) {
  std::optional<fs::path> path = file;
  if (!path && fs::exists("postern.toml")) path = "postern.toml";
  Config c = defaults();
  if (!path) {
    if (data_dir_override) {
      c.data_dir = fs::absolute(*data_dir_override).lexically_normal();
      c.tls.cert = c.data_dir / "tls/cert.pem";
      c.tls.key = c.data_dir / "tls/key.pem";
      c.aliases_file = c.data_dir / "aliases";
    }
    return c;
  }
  std::string name = path->string();
  if (fs::is_directory(*path)) throw Error(name, 0, "", "is a directory, not a configuration file");
  return load_text(read_file(*path), name, fs::absolute(*path).parent_path(), data_dir_override);
}

Config load_text(std::string_view text, const std::string& name, const fs::path& config_dir,
                 const std::optional<fs::path>& data_dir_override) {
  Config c = defaults();
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw Error(name, e.source().begin.line, "", std::string("TOML syntax: ") + std::string(e.description()));
  }
  Loader loader(name, c);
  loader.load(root);
  loader.finish(config_dir, data_dir_override);
  c.source = name;
  return c;
}

}  // namespace postern::config
