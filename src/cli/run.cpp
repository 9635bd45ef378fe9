#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace postern::cli {

int run(int argc, char** argv) {
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
