// Shared helpers for store unit tests.
#pragma once

#include <filesystem>
#include <string>

#include "util/ids.hpp"

namespace postern::store::testing {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("postern-store-" + util::random_hex(6));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace postern::store::testing
