// `postern testbed` (SPEC §10): the deterministic SMTP test server. The
// real server (every reply exact, AUTH with every mechanism, STARTTLS and
// implicit TLS) with the testbed's scenarios deciding each command, every
// session's transcript kept, every message kept and shown on a web page
// and a JSON API; nothing is ever delivered or relayed.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "admission/auth_state.hpp"
#include "http/request_guard.hpp"
#include "log/log.hpp"
#include "server/intake.hpp"
#include "server/server.hpp"
#include "store/durable_file.hpp"
#include "store/users.hpp"
#include "testbed/http_api.hpp"
#include "testbed/messages.hpp"
#include "testbed/oauth_tokens.hpp"
#include "testbed/pop3_maildrop.hpp"
#include "testbed/pop3_server.hpp"
#include "testbed/releases.hpp"
#include "testbed/scenarios.hpp"
#include "testbed/transcripts.hpp"

namespace postern::cli {
namespace {

namespace fs = std::filesystem;

struct TestbedOptions {
  std::string config_file, data_dir, rules_file, ports_file;
  std::string smtp = "127.0.0.1:1025", smtps = "127.0.0.1:1465", http = "127.0.0.1:8025", pop3 = "127.0.0.1:1110";
  std::size_t pop3_sessions = 50;  // POP3 sessions at once
  std::vector<std::string> allowed_hosts;  // Host names the web side answers beyond IP literals and localhost
};

config::Listener listener(const std::string& text, config::TlsMode tls, const char* option) {
  config::Listener l;
  try {
    auto ep = config::parse_listen_address(text, true);
    l.host = ep.host;
    l.port = ep.port;
  } catch (const std::invalid_argument& e) {
    throw config::Error("", 0, option, e.what());
  }
  l.address = text;
  l.role = config::Role::mx;
  l.tls = tls;
  return l;
}

int run_testbed(const TestbedOptions& o) {
  config::Config cfg = o.config_file.empty() ? config::defaults() : config::load(o.config_file, std::nullopt);
  std::optional<fs::path> scratch;
  if (!o.data_dir.empty()) {
    cfg.data_dir = fs::absolute(o.data_dir).lexically_normal();
  } else {
    std::string tmpl = (fs::temp_directory_path() / "postern-testbed-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot make a data directory under " + tmpl);
    scratch = tmpl;
    cfg.data_dir = tmpl;
  }
  cfg.tls.cert = cfg.data_dir / "tls/cert.pem";
  cfg.tls.key = cfg.data_dir / "tls/key.pem";
  cfg.tls.named = false;
  cfg.listeners = {listener(o.smtp, config::TlsMode::starttls, "--smtp"),
                   listener(o.smtps, config::TlsMode::implicit, "--smtps")};
  const auto http = listener(o.http, config::TlsMode::none, "--http");
  const auto pop3_listener = listener(o.pop3, config::TlsMode::starttls, "--pop3");
  cfg.greylist.enabled = false;  // the scenarios greylist, deterministically
  cfg.auth.require_tls = false;  // AUTH offered without TLS too
  cfg.auth.lockout_failures = 0;  // deterministic: no test locks out the next one's AUTH
  cfg.auth.mechanisms = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"};
  cfg.limits.max_connections_per_ip = std::max(cfg.limits.max_connections_per_ip, 1000u);
  auto rules = cfg.testbed.rules;
  if (!o.rules_file.empty())
    for (auto& r : config::load_testbed_rules(o.rules_file)) rules.push_back(std::move(r));

  {
    std::error_code ec;
    fs::create_directories(cfg.data_dir, ec);
    store::UserDb users(cfg.database_path());
    for (const auto& [address, password] : cfg.testbed.users) {
      if (users.get(address)) users.set_password(address, password, true);
      else users.add(address, password, true);
    }
  }
  auto scenarios = std::make_shared<testbed::Scenarios>(rules, cfg.testbed.users.empty());
  auto transcripts = std::make_shared<testbed::Transcripts>(
      testbed::TranscriptLimits::for_budget(static_cast<std::size_t>(cfg.testbed.max_transcript_size)));
  server::Server server(cfg, [cfg] { return cfg; });
  server.set_admission(scenarios);
  server.auth_state().set_token_verifier(std::make_shared<testbed::OAuthTokens>(cfg.testbed.users));
  server.set_observer(transcripts);
  server.set_shutdown_grace(std::chrono::seconds(1), std::chrono::seconds(1));  // SIGTERM ends it within 5 s
  // Messages exist once the spool does (after bind()); POP3 logins come later.
  std::unique_ptr<testbed::Messages> kept;
  auto sizes = std::make_shared<testbed::WireSizes>();
  server.keep(sizes);
  auto pop3_server = std::make_shared<testbed::Pop3Server>(
      server, pop3_listener, o.pop3_sessions, [&kept, sizes](const std::string& identity) -> std::unique_ptr<pop3::Maildrop> {
        return std::make_unique<testbed::InboxMaildrop>(*kept, *sizes, identity);
      });
  pop3_server->bind();  // before bind() drops privileges
  server.bind();
  kept = std::make_unique<testbed::Messages>(server.spool(), cfg.testbed.max_messages);
  testbed::Messages& messages = *kept;
  testbed::HttpApi api(messages, *transcripts, *scenarios);
  api.allow_hosts(o.allowed_hosts);
  const int http_port = api.bind(http.host, http.port);
  // Releases go through the queue under [queue] and [relay]; their DSNs are
  // kept like any message. Never to one of our own listeners (as bound),
  // the HTTP and POP3 ones included.
  auto release_config = cfg;
  for (std::size_t i = 0; i < release_config.listeners.size() && i < server.bound_ports().size(); ++i)
    release_config.listeners[i].port = server.bound_ports()[i];
  for (auto [host, port] : {std::pair<std::string, int>{http.host, http_port}, {pop3_listener.host, pop3_server->port()}}) {
    config::Listener own;
    own.address = host + ":" + std::to_string(port);
    own.host = host;
    own.port = static_cast<std::uint16_t>(port);
    release_config.listeners.push_back(own);
  }
  testbed::Releases releases(release_config, [&intake = server.intake()](const store::Envelope& e, std::string_view m) {
    return intake.accept(e, m, intake.new_id());
  });
  releases.on_change([t = transcripts.get()] { t->touch(); });
  api.serve_releases(releases);
  log::Event("http_listen")
      .add("address", (http.host.find(':') != std::string::npos ? "[" + http.host + "]" : http.host) + ":" +
                          std::to_string(http_port))
      .add("serves", "the page and /api/");
  const auto ports = server.bound_ports();
  // Whole or not at all, through a fresh unpredictable temporary name
  // (O_EXCL): nothing planted beside the file is written through.
  if (!o.ports_file.empty())
    store::write_durably(o.ports_file, "{\"smtp\": " + std::to_string(ports.at(0)) + ", \"smtps\": " +
                                       std::to_string(ports.at(1)) + ", \"http\": " + std::to_string(http_port) +
                                       ", \"pop3\": " + std::to_string(pop3_server->port()) + "}\n", 0644);
  std::cout << "Postern testbed (data in " << cfg.data_dir.string() << (scratch ? ", removed at exit" : "") << ")\n"
            << "  SMTP   " << cfg.listeners[0].host << ":" << ports.at(0) << "  (STARTTLS offered)\n"
            << "  SMTPS  " << cfg.listeners[1].host << ":" << ports.at(1) << "  (implicit TLS)\n"
            << "  POP3   " << pop3_listener.host << ":" << pop3_server->port() << "  (STLS offered; a login reads its inbox)\n"
            << "  web    http://" << http.host << ":" << http_port << "/  (JSON API under /api/)\n"
            << "AUTH: " << (cfg.testbed.users.empty() ? "any user name and password (PLAIN, LOGIN, CRAM-MD5), any OAuth token"
                                                      : std::to_string(cfg.testbed.users.size()) + " configured user(s)")
            << "; scenarios by address: greylist+N@, locked+K@, full@, unknown@, tempfail-data@ ...\n"
            << "Every scenario and rule: postern testbed --help, docs/testbed.md\n"
            << std::endl;
  const int rc = server.run([&](server::Server& s) {
    s.intake().on_accepted([&messages, t = transcripts.get()](const std::string& id) {
      messages.added(id);
      t->touch();
    });
    try {
      releases.start();
    } catch (const std::invalid_argument& e) {
      throw server::StartError(78, std::string("relay.dns_servers: ") + e.what());
    }
    api.start();
    pop3_server->start();
    s.on_stop([&api, &releases, pop3_server] {
      pop3_server->stop();
      api.stop();
      releases.stop();
    });
  });
  api.stop();
  releases.stop();
  if (scratch) {
    std::error_code ec;
    fs::remove_all(*scratch, ec);
  }
  return rc;
}

}  // namespace

namespace {

const char* const testbed_help = R"(Scenarios by recipient address (any domain):
  greylist+N@...        RCPT 450 4.2.0 until N seconds (default 60) after the first try
  locked@, locked+K@    RCPT 450 4.2.1, always / the first K times
  full@, disabled@, unknown@   RCPT 452 4.2.2 / 550 5.2.1 / 550 5.1.1
  tempfail-data@, tempfail-data+K@   451 4.3.0 after the final dot, always / the first K times
  reject-data@          554 5.7.1 after the final dot
  shutdown-after-rcpt@, drop-after-rcpt@   RCPT 421 and close / close with no reply
  slow+S@               every later reply of the transaction S seconds late
AUTH: any credentials pass unless [testbed] users are set; user fail@ gets 535, tempfail@ 454.
OAUTHBEARER, XOAUTH2: any token passes; a token starting with "invalid" gets the
JSON error 334 then 535 5.7.8, one starting with "expired" 454 4.7.0.
Rules ([[testbed.rule]], --rules, POST /api/rules) answer any command your way
(rate = "5/1m": only past 5 a minute; throttle = "10K/s": a slow DATA; command STARTTLS too).
POST /api/messages/ID/release {"to": [...], "server": "HOST:PORT"} sends a kept message on
through the queue ([queue] retries, [relay] routes; a bounce's DSN is kept here).
POP3 on --pop3: USER/PASS or AUTH with the same credentials; a login as ADDR
reads ADDR's inbox (mail to ADDR, or sent by ADDR authenticated); DELE removes
from that inbox only.
The web page and JSON API are on --http. Everything, with the exact bytes: docs/testbed.md)";

}  // namespace

void add_testbed(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("testbed", "Run the deterministic SMTP test server (scenarios, web page, JSON API)");
  sub->footer(testbed_help);
  auto o = std::make_shared<TestbedOptions>();
  sub->add_option("--config", o->config_file,
                  "TOML file ([testbed] users and [[testbed.rule]]; [tls] and [limits] apply, [queue] and [relay] to releases)");
  sub->add_option("--data-dir", o->data_dir, "Keep messages here (default: a fresh temporary directory, removed at exit)");
  sub->add_option("--smtp", o->smtp, "SMTP listener, STARTTLS offered (port 0: any free port)")->capture_default_str();
  sub->add_option("--smtps", o->smtps, "Implicit-TLS listener")->capture_default_str();
  sub->add_option("--http", o->http, "Web page and JSON API")->capture_default_str();
  sub->add_option("--pop3", o->pop3, "POP3 listener, STLS offered: a login as ADDR reads ADDR's inbox")->capture_default_str();
  sub->add_option("--pop3-sessions", o->pop3_sessions, "POP3 sessions at once (more are refused with -ERR [SYS/TEMP])")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sub->add_option("--ports-file", o->ports_file, "Write {\"smtp\": N, \"smtps\": N, \"http\": N, \"pop3\": N} here once listening");
  sub->add_option("--rules", o->rules_file, "TOML file of [[rule]] tables");
  sub->add_option("--allowed-hosts", o->allowed_hosts,
                  "Host names the web side answers besides IP addresses and localhost (comma-separated; * = any)")
      ->delimiter(',')
      ->check([](const std::string& name) {
        return name == "*" || http::host_name(name) ? std::string() : "not a host name: " + name;
      });
  sub->callback([&result, o] {
    try {
      result = run_testbed(*o);
    } catch (const config::Error& e) {
      result = report(e);
    } catch (const server::StartError& e) {
      std::cerr << "postern: " << e.what() << '\n';
      result = e.exit_code;
    } catch (const std::exception& e) {
      std::cerr << "postern: testbed: " << e.what() << '\n';
      result = Exit::software;
    }
  });
}

}  // namespace postern::cli
