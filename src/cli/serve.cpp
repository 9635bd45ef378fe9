// Placeholder: replaced by the real subcommand.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace postern::cli {

void add_serve(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("serve", "(not built yet)");
  sub->allow_extras();
  sub->callback([&result] {
    std::cerr << "postern: serve is not built yet\n";
    result = Exit::software;
  });
}

}  // namespace postern::cli
