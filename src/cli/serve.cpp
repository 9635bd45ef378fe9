// `postern serve` (SPEC §2, §3): run the server in the foreground.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/services.hpp"
#include "log/log.hpp"
#include "server/server.hpp"

namespace postern::cli {
namespace {

const char* tls_name(config::TlsMode m) {
  switch (m) {
    case config::TlsMode::none: return "no TLS";
    case config::TlsMode::starttls: return "STARTTLS";
    case config::TlsMode::implicit: return "implicit TLS";
  }
  return "?";
}

// What a new user needs on the first start (SPEC §3).
void print_banner(const config::Config& c, const StateOptions& options) {
  std::cout << "Postern " << "serving " << c.hostname << " (data in " << c.data_dir.string() << ")\n";
  const config::Listener* submission = nullptr;
  bool mx = false;
  for (auto& l : c.listeners) {
    mx = mx || l.role == config::Role::mx;
    std::cout << "  listening on " << l.address << "  "
              << (l.role == config::Role::mx ? "mx" : "submission") << ", " << tls_name(l.tls)
              << (l.role == config::Role::submission ? ", AUTH required" : "") << "\n";
    if (l.role == config::Role::submission && !submission) submission = &l;
  }
  std::string where = options.config_file.empty() ? "" : " --config " + options.config_file;
  if (!options.data_dir.empty()) where += " --data-dir " + options.data_dir;
  const std::string user = "you@" + (c.local_domains.empty() ? c.hostname : c.local_domains.front());
  std::cout << "\nAdd a user:\n  postern user add" << where << " " << user << "\n";
  if (submission) {
    std::string host = submission->host == "0.0.0.0" ? "127.0.0.1" : submission->host == "::" ? "::1" : submission->host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    std::cout << "Send a test message through the submission listener:\n  POSTERN_PASSWORD=<password> postern send --server " << host << ":"
              << submission->port << (submission->tls != config::TlsMode::none ? " --insecure" : "")
              << " --user " << user << " --from " << user << " --to " << user
              << " --subject hello --body - <<< 'Hello from Postern'\n";
  }
  if (c.greylist.enabled && mx) std::cout << "(the mx listener greylists first-time senders, as it should)\n";
  std::cout << std::endl;
}

}  // namespace

void add_serve(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("serve", "Run the SMTP server in the foreground");
  auto options = std::make_shared<StateOptions>();
  options->add_to(sub);
  sub->callback([&result, options] {
    config::Config cfg;
    try {
      cfg = options->load();
    } catch (const config::Error& e) {
      result = report(e);
      return;
    }
    log::set_format(cfg.log_format == config::LogFormat::json ? log::Format::json : log::Format::text);
    try {
      server::Server server(cfg, [options] { return options->load(); });
      server.bind();
      print_banner(cfg, *options);
      result = server.run(start_services);
    } catch (const server::StartError& e) {
      std::cerr << "postern: " << e.what() << '\n';
      result = e.exit_code;
    }
  });
}

}  // namespace postern::cli
