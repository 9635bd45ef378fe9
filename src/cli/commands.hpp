// The `postern` command line (SPEC §2): one function per subcommand file.
// Each add_* registers its subcommand on `app`; when the subcommand runs it
// stores its sysexits code in `result`.
#pragma once

#include <CLI/CLI.hpp>

namespace postern::cli {

int run(int argc, char** argv);

void add_serve(CLI::App& app, int& result);
void add_send(CLI::App& app, int& result);
void add_user(CLI::App& app, int& result);
void add_greylist(CLI::App& app, int& result);
void add_queue(CLI::App& app, int& result);
void add_explain(CLI::App& app, int& result);
void add_check_config(CLI::App& app, int& result);
void add_testbed(CLI::App& app, int& result);
void add_sendmail(CLI::App& app, int& result);
void add_dkim(CLI::App& app, int& result);
void add_probe(CLI::App& app, int& result);

}  // namespace postern::cli
