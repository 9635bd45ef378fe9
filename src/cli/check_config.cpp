// Placeholder: replaced by the real subcommand.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace postern::cli {

void add_check_config(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("check-config", "(not built yet)");
  sub->allow_extras();
  sub->callback([&result] {
    std::cerr << "postern: check-config is not built yet\n";
    result = Exit::software;
  });
}

}  // namespace postern::cli
