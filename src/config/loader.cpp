// Placeholder until the TOML loader lands: embedded defaults only.
#include "config/config.hpp"

namespace postern::config {

Config load(const std::optional<std::filesystem::path>& file,
            const std::optional<std::filesystem::path>& data_dir_override) {
  if (file) throw Error(file->string(), 0, "", "config files are not supported yet");
  Config c = defaults();
  if (data_dir_override) {
    c.data_dir = std::filesystem::absolute(*data_dir_override).lexically_normal();
    c.tls.cert = c.data_dir / "tls/cert.pem";
    c.tls.key = c.data_dir / "tls/key.pem";
  }
  return c;
}

Duration parse_duration(std::string_view) { throw std::invalid_argument("not implemented"); }
std::uint64_t parse_size(std::string_view) { throw std::invalid_argument("not implemented"); }
std::string to_toml(const Config&) { return {}; }

}  // namespace postern::config
