#include "queue/control.hpp"

#include <fstream>
#include <string>

#include "store/durable_file.hpp"

namespace postern::queue {

std::filesystem::path retry_dir(const config::Config& config) { return config.data_dir / "queue" / "retry"; }
std::filesystem::path inflight_dir(const config::Config& config) { return config.data_dir / "queue" / "inflight"; }

void request_retry(const config::Config& config, std::string_view id) {
  store::create_directories_durably(retry_dir(config));
  std::string name = id.empty() ? "all" : std::string(id);
  std::ofstream out(retry_dir(config) / name);
  out.put('\n');
  if (!out) throw std::filesystem::filesystem_error("cannot write the retry request", retry_dir(config),
                                                    std::make_error_code(std::errc::io_error));
}

}  // namespace postern::queue
