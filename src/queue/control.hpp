// How the admin commands reach the running queue runner: small files under
// data_dir/queue/ (the runner scans them every second), so `postern queue`
// needs no socket and works whether or not a server runs.
#pragma once

#include <filesystem>
#include <string_view>

#include "config/config.hpp"

namespace postern::queue {

// data_dir/queue/retry: where `postern queue retry` asks for an attempt now.
std::filesystem::path retry_dir(const config::Config& config);
// data_dir/queue/inflight: markers for deliveries in progress.
std::filesystem::path inflight_dir(const config::Config& config);
// Asks the runner to try `id` (or every deferred message when empty) now.
// Throws std::filesystem::filesystem_error when the directory is not writable.
void request_retry(const config::Config& config, std::string_view id);

}  // namespace postern::queue
