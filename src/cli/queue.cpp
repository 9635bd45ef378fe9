// Placeholder: replaced by the real subcommand.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace postern::cli {

void add_queue(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("queue", "(not built yet)");
  sub->allow_extras();
  sub->callback([&result] {
    std::cerr << "postern: queue is not built yet\n";
    result = Exit::software;
  });
}

}  // namespace postern::cli
