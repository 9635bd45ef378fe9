// `postern probe TARGET [--port N] [--rcpt ADDR] [--wait DURATION]
// [--dns HOST:PORT] [--json] [--lang en|tr]` (SPEC §14): what a remote
// server does at 334 and 450, and what its domain publishes, explained.
// Never sends a message. Exit 0 nothing wrong, 1 a finding, 69/75 no host
// answered (permanent/temporary), 64 bad usage.
#include <unistd.h>

#include <csignal>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "config/config.hpp"
#include "explain/explain.hpp"
#include "probe/probe.hpp"
#include "probe/render.hpp"
#include "smtp/address.hpp"
#include "util/strings.hpp"

namespace postern::cli {
namespace {

struct ProbeArgs {
  std::string target;
  int port = 0;
  std::string rcpt;
  std::string wait;
  std::string dns;
  std::string config_file;
  bool json = false;
  std::string lang;
};

std::string host_name() {
  char buf[256] = "";
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

int probe(const ProbeArgs& args) {
  probe::Options options;
  options.target = args.target;
  if (args.port < 0 || args.port > 65535) {
    std::cerr << "postern: --port must be 1..65535\n";
    return Exit::usage;
  }
  if (args.port > 0) options.port = static_cast<std::uint16_t>(args.port);
  options.rcpt = args.rcpt;
  if (!options.rcpt.empty()) {
    // One mailbox, nothing else: the argument becomes a command line.
    if (options.rcpt.size() > 2 && options.rcpt.front() == '<' && options.rcpt.back() == '>')
      options.rcpt = options.rcpt.substr(1, options.rcpt.size() - 2);
    const std::string path = "<" + options.rcpt + ">";
    auto parsed = smtp::parse_path(path);
    if (!parsed.path || parsed.consumed != path.size() || parsed.path->null || parsed.path->postmaster ||
        !parsed.path->source_route.empty()) {
      std::cerr << "postern: --rcpt: not a mailbox address: \"" << util::printable(args.rcpt, 200) << "\""
                << (parsed.error.empty() ? "" : " (" + parsed.error + ")") << "\n";
      return Exit::usage;
    }
  }
  if (!args.wait.empty()) {
    try {
      options.wait = std::chrono::duration_cast<std::chrono::seconds>(config::parse_duration(args.wait));
    } catch (const std::exception& e) {
      std::cerr << "postern: --wait: " << e.what() << "\n";
      return Exit::usage;
    }
    if (args.rcpt.empty()) {
      std::cerr << "postern: --wait needs --rcpt\n";
      return Exit::usage;
    }
  }
  auto lang = args.lang.empty() ? explain::default_lang() : explain::parse_lang(args.lang).value_or(explain::Lang::en);
  if (!args.lang.empty() && !explain::parse_lang(args.lang)) {
    std::cerr << "postern: --lang must be en or tr\n";
    return Exit::usage;
  }
  if (!args.dns.empty()) {
    options.dns_servers = {args.dns};
  } else if (!args.config_file.empty()) {
    StateOptions state;
    state.config_file = args.config_file;
    options.dns_servers = state.load().relay.dns_servers;
  }
  options.helo_name = host_name();
  // A server that closes while TLS writes must not end the process.
  std::signal(SIGPIPE, SIG_IGN);
  probe::Report report;
  try {
    report = probe::run(options);
  } catch (const std::invalid_argument& e) {
    std::cerr << "postern: " << e.what() << "\n";
    return Exit::usage;
  } catch (const std::exception& e) {
    std::cerr << "postern: probe: " << e.what() << "\n";
    return Exit::software;
  }
  std::cout << (args.json ? probe::render_json(report, lang) : probe::render_text(report, lang)) << std::flush;
  return report.exit_code();
}

}  // namespace

void add_probe(CLI::App& app, int& result) {
  auto args = std::make_shared<ProbeArgs>();
  auto* sub = app.add_subcommand("probe", "Diagnose a remote SMTP server or mail domain (never sends a message)");
  sub->add_option("target", args->target, "HOST[:PORT] or a mail domain (then its MX hosts, port 25)")->required();
  sub->add_option("--port", args->port, "Port (default 25)");
  sub->add_option("--rcpt", args->rcpt, "Try RCPT TO this address (MAIL FROM:<>, then RSET: nothing is sent)");
  sub->add_option("--wait", args->wait, "When greylisted, retry after this long (e.g. 5m)");
  sub->add_option("--dns", args->dns, "DNS server to ask, HOST:PORT (default: [relay] dns_servers, else /etc/resolv.conf)");
  sub->add_option("--config", args->config_file, "Configuration file (for [relay] dns_servers)");
  sub->add_flag("--json", args->json, "JSON output (docs/probe.schema.json)");
  sub->add_option("--lang", args->lang, "en or tr (default: from the environment)");
  sub->callback([args, &result] {
    try {
      result = probe(*args);
    } catch (const config::Error& e) {
      result = report(e);
    }
  });
}

}  // namespace postern::cli
