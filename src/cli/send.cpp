// Placeholder: replaced by the real subcommand.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace postern::cli {

void add_send(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("send", "(not built yet)");
  sub->allow_extras();
  sub->callback([&result] {
    std::cerr << "postern: send is not built yet\n";
    result = Exit::software;
  });
}

}  // namespace postern::cli
