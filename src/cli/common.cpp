#include "cli/common.hpp"

#include <iostream>

namespace postern::cli {

void StateOptions::add_to(CLI::App* sub) {
  sub->add_option("--config", config_file, "Configuration file (default: ./postern.toml if present)");
  sub->add_option("--data-dir", data_dir, "Data directory (overrides data_dir)");
}

config::Config StateOptions::load() const {
  std::optional<std::filesystem::path> file, dir;
  if (!config_file.empty()) file = config_file;
  if (!data_dir.empty()) dir = data_dir;
  return config::load(file, dir);
}

int report(const config::Error& e) {
  std::cerr << "postern: " << e.file;
  if (e.line) std::cerr << ':' << e.line;
  std::cerr << ": ";
  if (!e.key.empty()) std::cerr << e.key << ": ";
  std::cerr << e.what() << '\n';
  return Exit::config_error;
}

}  // namespace postern::cli
