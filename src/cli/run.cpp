#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace postern::cli {

int run(int argc, char** argv) {
  // Installed as `sendmail` or `mailq` (links to postern), it acts as one.
  const std::string name = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "";
  if (name == "sendmail" || name == "mailq") {
    // mailq is `sendmail -bp`: the same config ($POSTERN_CONFIG, /etc/postern/postern.toml).
    std::vector<std::string> args{"postern", "sendmail"};
    if (name == "mailq") args.push_back("-bp");
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    std::vector<char*> raw;
    for (auto& s : args) raw.push_back(s.data());
    return run(static_cast<int>(raw.size()), raw.data());
  }
  CLI::App app{"Postern: an ESMTP server and client toolkit", "postern"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "postern 0.1.0");
  int result = Exit::ok;
  add_serve(app, result);
  add_send(app, result);
  add_user(app, result);
  add_greylist(app, result);
  add_queue(app, result);
  add_explain(app, result);
  add_check_config(app, result);
  add_testbed(app, result);
  add_sendmail(app, result);
  add_dkim(app, result);
  add_probe(app, result);
  // CLI11 would only say that a subcommand is required: name the unknown one.
  // The same one level down (`postern user frob`).
  CLI::App* level = &app;
  std::string path = "postern";
  for (int i = 1; i < argc && i <= 2 && argv[i][0] != '-'; ++i) {
    const std::string word = argv[i];
    const auto subs = level->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) break;
    const auto found = std::find_if(subs.begin(), subs.end(), [&](const CLI::App* s) { return s->check_name(word); });
    if (found == subs.end()) {
      std::cerr << "postern: unknown command \"" << (i == 1 ? word : path.substr(8) + " " + word) << "\" (see " << path
                << " --help)\n";
      return Exit::usage;
    }
    level = *found;
    path += " " + word;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? Exit::ok : Exit::usage;
  } catch (const config::Error& e) {
    return report(e);
  }
  return result;
}

}  // namespace postern::cli
