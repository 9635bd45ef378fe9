// The typed configuration (SPEC §4). `defaults()` is the embedded
// configuration of SPEC §3; `load()` reads a TOML file over those defaults,
// rejecting unknown keys and bad values with file, line and key named.
// Paths in the returned Config are absolute (resolved against data_dir).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::config {

using Duration = std::chrono::seconds;

enum class Role { mx, submission };
enum class TlsMode { none, starttls, implicit };
enum class MailboxFormat { maildir, mbox };
// How mailbox files delivered before the 250 are made durable (docs/store.md).
enum class MailboxSync { automatic, syncfs, fsync };
enum class LogFormat { text, json };
// Who checks AUTH credentials (SPEC §12): postern.db, or Dovecot's auth service.
enum class AuthBackend { postern, dovecot };

struct Listener {
  std::string address;  // as written: "0.0.0.0:25", "[::]:25"
  std::string host;     // "0.0.0.0", "::"
  std::uint16_t port = 0;
  Role role = Role::mx;
  TlsMode tls = TlsMode::starttls;
};

// A mail filter spoken to with the milter protocol (SPEC §13, [[milter]]).
enum class MilterOnError { tempfail, accept };
struct Milter {
  std::string address;  // as written: "unix:/run/rspamd/milter.sock" or "inet:127.0.0.1:11332"
  std::filesystem::path socket;  // unix: the socket's absolute path; empty for inet
  std::string host;              // inet: a host name or an IP literal (no brackets)
  std::uint16_t port = 0;
  std::vector<Role> roles{Role::mx};  // the listeners whose mail it sees
  MilterOnError on_error = MilterOnError::tempfail;  // when it is down, slow or speaks nonsense
  Duration timeout{std::chrono::seconds(30)};        // per reply; SMFIR_PROGRESS restarts it
};
// "unix:/absolute/path" or "inet:HOST:PORT" ("inet:[::1]:11332") into a Milter's
// socket or host and port. Throws std::invalid_argument.
void parse_milter_address(std::string_view text, Milter& milter);

struct Tls {
  std::filesystem::path cert;  // absolute
  std::filesystem::path key;   // absolute
  // cert or key elsewhere than the defaults (data_dir/tls/): those files
  // must exist. A certificate is generated only at the defaults.
  bool named = false;
};

struct Auth {
  std::vector<std::string> mechanisms{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"};
  bool require_tls = true;
  unsigned max_failures_per_session = 3;
  unsigned lockout_failures = 10;
  Duration lockout_window{std::chrono::minutes(10)};
  Duration lockout_duration{std::chrono::minutes(15)};
  // A PLAIN/LOGIN password verified by yescrypt passes again without it for
  // this long while the stored hash is unchanged (sasl/verified_cache.hpp);
  // 0 = every login runs yescrypt.
  Duration verified_cache_ttl{std::chrono::hours(1)};
  // OAUTHBEARER and XOAUTH2 (SPEC §14), offered after TLS when the URL is
  // set: tokens are checked by RFC 7662 introspection at this https URL.
  std::string oauth_introspection_url;
  std::string oauth_client_id;
  std::filesystem::path oauth_client_secret_file;  // absolute; empty = no client authentication
  std::filesystem::path oauth_introspection_ca;    // absolute; empty = the system store
  std::string oauth_scope;                          // named in the JSON error; "" leaves it out
  AuthBackend backend = AuthBackend::postern;
  // Dovecot's auth-client socket: an absolute unix path, or "inet:HOST:PORT".
  std::string dovecot_socket;
  Duration dovecot_timeout{10};  // each connect, write and read on it
  // Dovecot's auth-userdb socket (an absolute unix path, or "inet:HOST:PORT"):
  // when set, RCPT for a local domain asks it whether the user exists
  // (SPEC §12) instead of the LMTP server; "" = not used.
  std::string dovecot_userdb;
};

struct Greylist {
  bool enabled = true;
  Duration delay{std::chrono::minutes(5)};
  Duration retry_window{std::chrono::hours(48)};
  Duration max_age{std::chrono::hours(24 * 35)};
  unsigned auto_allow_after = 5;
  unsigned ipv4_prefix = 24;
  unsigned ipv6_prefix = 64;
  std::vector<std::string> allow;
  std::string store = "sqlite";  // "sqlite" | "redis://host:port/db"
};

struct Policy {
  unsigned max_messages_per_ip = 0;
  Duration rate_window{std::chrono::minutes(1)};
};

struct Limits {
  std::uint64_t max_message_size = 25ull * 1024 * 1024;
  unsigned max_recipients = 100;
  Duration command_timeout{std::chrono::minutes(5)};
  Duration data_timeout{std::chrono::minutes(10)};
  unsigned max_errors = 10;
  unsigned max_connections = 10000;
  unsigned max_connections_per_ip = 50;
  // mx: commands an unauthenticated client sends behind the final dot get 554 5.5.0, close.
  bool forbid_unauth_pipelining = true;
};

struct Queue {
  Duration retry_initial{std::chrono::minutes(5)};
  Duration retry_max{std::chrono::hours(1)};
  Duration lifetime{std::chrono::hours(24 * 5)};
  Duration delay_warning{std::chrono::hours(4)};  // one "delayed" DSN after this; 0 = none
};

// How the queue protects the connection to the smarthost, where the
// password goes: verify = TLS with the certificate checked against
// smarthost_ca (or the system store) and the smarthost's name; encrypt =
// TLS, certificate unchecked; none = no TLS. Credentials are sent only over
// what this allows: with the default, never to an unverified peer.
enum class SmarthostTls { verify, encrypt, none };

struct Relay {
  std::string smarthost;
  SmarthostTls smarthost_tls = SmarthostTls::verify;
  std::filesystem::path smarthost_ca;  // absolute; empty = the system store
  std::string smarthost_user;
  std::filesystem::path smarthost_password_file;
  // Instead of the password file: a command (run under /bin/sh -c at each
  // connection) whose first line of output is an OAuth 2.0 access token,
  // sent with OAUTHBEARER or XOAUTH2.
  std::string smarthost_oauth_token_command;
  std::map<std::string, std::string> routes;  // lower-case domain -> "host:port"
  std::vector<std::string> dns_servers;
  bool mta_sts = true;  // RFC 8461 for MX delivery: enforce-mode policies are obeyed
};

// SPEC §12 [delivery] transport: where local mail goes. "maildir" and
// "mbox" are what mailbox_format says (either key may set it; an older
// config with mailbox_format alone keeps working); "lmtp:unix:PATH" and
// "lmtp:inet:HOST:PORT" hand it to an LMTP server (RFC 2033), such as
// Dovecot's, which then also answers for the recipients at RCPT.
enum class TransportKind { mailbox, lmtp_unix, lmtp_inet };

struct Delivery {
  TransportKind kind = TransportKind::mailbox;  // mailbox: maildir or mbox, by mailbox_format
  std::filesystem::path lmtp_socket;  // lmtp_unix: absolute (relative to data_dir in the file)
  std::string lmtp_host;              // lmtp_inet: name or IP literal (IPv6 without brackets)
  std::uint16_t lmtp_port = 0;        // lmtp_inet

  bool lmtp() const { return kind != TransportKind::mailbox; }
};

// SPEC §13 [inbound]: the built-in message authentication of mx
// listeners (src/inbound), and the DNS block lists asked at RCPT.
struct Inbound {
  bool spf = false;
  bool dkim = false;
  bool dmarc = false;          // needs spf and dkim
  bool dmarc_enforce = false;  // needs dmarc: p=reject gets 550 5.7.1, p=quarantine X-Postern-Quarantine
  std::vector<std::string> dnsbl;  // zones, lower case

  bool checks_messages() const { return spf || dkim || dmarc; }
};

// SPEC §4 [http]: an optional loopback HTTP endpoint for GET /metrics.
struct Http {
  std::string listen;  // "127.0.0.1:9025"; "" = off
  std::vector<std::string> allowed_hosts;  // Host names answered beyond IP literals, localhost and hostname; "*" any
};

// SPEC §10, read by `postern testbed` only: its users, and rules that
// answer a chosen command with a chosen reply.
struct TestbedRule {
  std::string command;         // EHLO, MAIL, RCPT, DATA, DOT (after the final dot) or AUTH
  std::string from, to, user;  // globs (fnmatch, case-insensitive); "" matches anything
  std::string reply;           // "450 4.7.1 text"; for shutdown a 421 (default "421 4.3.2 Service shutting down")
  unsigned times = 0;          // the first N times per client IP + sender + recipient, then pass; 0 = always
  Duration delay{0};           // waited before the reply (or the close)
  std::string action = "reply";  // reply | drop | shutdown
  // rate = "N/DURATION": the rule applies only once more than `rate_count`
  // matching commands came from the client IP within `rate_window` (0: always).
  unsigned rate_count = 0;
  Duration rate_window{0};
  // throttle = "BYTES/s" (command DATA only): the body is read at this many
  // octets a second, and accepted; 0: as fast as it comes.
  std::uint64_t throttle = 0;
};

// "5/1m", "5/m", "100/10s" → {5, 60 s}. N from 0 to 1000000, DURATION from
// 1 s to 1 d. Throws std::invalid_argument saying what was expected.
std::pair<unsigned, Duration> parse_rate(std::string_view text);
std::string format_rate(unsigned count, Duration window);  // "5/1m"
// "1000/s", "10K/s" (K = 1024) → octets a second, from 1 to 1G. Throws std::invalid_argument.
std::uint64_t parse_throttle(std::string_view text);
std::string format_throttle(std::uint64_t octets_per_second);  // "1000/s"

struct Testbed {
  std::map<std::string, std::string> users;  // address -> password; empty: any credentials pass
  std::vector<TestbedRule> rules;
  unsigned max_messages = 500;  // kept at most, the oldest dropped first; 0 = no limit
  std::uint64_t max_transcript_size = 32 << 20;  // all transcripts together; the oldest go first
};

// What is wrong with a rule, or "" when it is well-formed (fills in the
// shutdown default reply).
std::string check_testbed_rule(TestbedRule& rule);
// The [[rule]] tables of a TOML file (`postern testbed --rules FILE`). Throws Error.
std::vector<TestbedRule> load_testbed_rules(const std::filesystem::path& file);

struct Config {
  std::string hostname;  // default: the machine's host name
  std::filesystem::path data_dir;  // absolute
  std::vector<std::string> local_domains{"localhost"};  // lower case
  std::string mailbox_path = "mail/{domain}/{localpart}";
  MailboxFormat mailbox_format = MailboxFormat::maildir;
  MailboxSync mailbox_sync = MailboxSync::automatic;
  std::filesystem::path aliases_file;  // absolute; the file may be absent; empty = no aliases (SPEC §11)
  std::string postmaster;  // resolved: never empty after load()/defaults()
  std::string user;        // drop privileges to this user when started as root; empty: stay
  std::vector<Listener> listeners;
  std::vector<Milter> milters;  // in the order they are applied
  Tls tls;
  Auth auth;
  Greylist greylist;
  Policy policy;
  Limits limits;
  Queue queue;
  Relay relay;
  Delivery delivery;
  Inbound inbound;
  Http http;
  Testbed testbed;
  LogFormat log_format = LogFormat::text;

  std::string source = "(embedded defaults)";  // the file it came from

  bool is_local_domain(std::string_view domain) const;
  // Where mail for `recipient` really goes: `postmaster` for the bare
  // "postmaster" and postmaster@<any local domain> (RFC 5321 §4.5.1), the
  // recipient itself otherwise. Local delivery and the queue both route by
  // it, so a message is always somebody's: delivered here or relayed.
  std::string final_recipient(std::string_view recipient) const;
  // True when final_recipient(recipient) is in a local domain.
  bool delivers_locally(std::string_view recipient) const;
  // [delivery] transport as written in a config file: "maildir", "mbox",
  // "lmtp:unix:/run/dovecot/lmtp", "lmtp:inet:127.0.0.1:24".
  std::string transport() const;
  // True when the users of local_domains live in another server (an LMTP
  // transport, or a Dovecot userdb to ask): no row in postern.db is then
  // not "unknown" (a row still disables, locks or limits the address).
  bool users_elsewhere() const { return delivery.lmtp() || !auth.dovecot_userdb.empty(); }
  // data_dir / mailbox_path with {domain} and {localpart} substituted.
  std::filesystem::path mailbox_for(std::string_view localpart, std::string_view domain) const;
  std::filesystem::path database_path() const { return data_dir / "postern.db"; }
  std::filesystem::path spool_dir() const { return data_dir / "spool"; }
  std::filesystem::path dkim_dir() const { return data_dir / "dkim"; }
};

struct Error : std::runtime_error {
  std::string file;
  std::size_t line = 0;  // 0 when unknown
  std::string key;       // dotted: "limits.max_errors"
  Error(std::string file, std::size_t line, std::string key, const std::string& message);
};

// SPEC §3. data_dir defaults to ./postern-data (made absolute).
Config defaults();

// The config the CLI uses: `file` if given; else ./postern.toml if present;
// else defaults(). `data_dir_override` (--data-dir) wins over the file.
// Throws Error.
Config load(const std::optional<std::filesystem::path>& file,
            const std::optional<std::filesystem::path>& data_dir_override);

// Parses TOML `text` as if read from the file `name` in `config_dir` (over
// defaults(); relative data_dir is resolved against config_dir). Throws Error.
Config load_text(std::string_view text, const std::string& name, const std::filesystem::path& config_dir,
                 const std::optional<std::filesystem::path>& data_dir_override = std::nullopt);

// Parses "30s", "5m", "2h", "35d" (and a bare number of seconds). Throws std::invalid_argument.
Duration parse_duration(std::string_view text);
// Parses "25M", "512K", "1G", "1000". Throws std::invalid_argument.
std::uint64_t parse_size(std::string_view text);
// The effective config as TOML (check-config); load() of it gives the same Config.
std::string to_toml(const Config& config);

// --- Value syntax shared with the commands that take the same values ---
// Every parser below throws std::invalid_argument with a message that says
// what was expected; the loader prefixes it with file, line and key.

// The shortest exact form of a duration ("90s", "5m", "35d"); "0s" for zero.
std::string format_duration(Duration d);
// The shortest exact form of a size ("25M", "512K", "1000").
std::string format_size(std::uint64_t octets);

struct Endpoint {
  std::string host;  // lower case; IPv6 without brackets
  std::uint16_t port = 0;
};
// A listener address: an IP literal and a port, "0.0.0.0:25" or "[::]:25".
Endpoint parse_listen_address(std::string_view text, bool any_port = false);
// "host", "host:port", "[v6]" or "[v6]:port"; host is a domain name or an IP
// literal (only an IP literal when ip_only); a missing port is default_port.
Endpoint parse_endpoint(std::string_view text, std::uint16_t default_port, bool ip_only = false);

struct RedisUrl {
  std::string host;
  std::uint16_t port = 6379;
  unsigned db = 0;
};
// "redis://host[:port][/db]" ([greylist] store).
RedisUrl parse_redis_url(std::string_view text);

// A [greylist] allow entry: "CIDR" or a bare IP, "example.net", or
// "rcpt:ADDR-or-DOMAIN". Returns it in canonical form (lower case).
std::string parse_allow_entry(std::string_view text);

// True for an ASCII domain name (LDH labels of 1..63 octets, 253 in all).
bool is_domain(std::string_view text);

// The SASL mechanisms [auth] mechanisms may name, strongest first.
const std::vector<std::string>& known_mechanisms();

}  // namespace postern::config
