#include "cli/common.hpp"

#include <filesystem>

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
  std::cerr << "postern: ";
  if (!e.file.empty()) {  // (a command-line option has no file)
    std::cerr << e.file;
    if (e.line) std::cerr << ':' << e.line;
    std::cerr << ": ";
  }
  if (!e.key.empty()) std::cerr << e.key << ": ";
  std::cerr << e.what() << '\n';
  return Exit::config_error;
}

int require_data_dir(const config::Config& cfg) {
  std::error_code ec;
  if (std::filesystem::is_directory(cfg.data_dir, ec)) return Exit::ok;
  std::cerr << "postern: no data directory at " << cfg.data_dir.string()
            << " (the server keeps its state there once started; give --data-dir or --config)\n";
  return Exit::config_error;
}

}  // namespace postern::cli
