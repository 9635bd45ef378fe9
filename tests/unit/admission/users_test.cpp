#include "admission/users.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "store/users.hpp"

namespace postern::admission {
namespace {

namespace fs = std::filesystem;

struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("postern-users-" + std::to_string(::getpid()));
  ScratchDir() {
    fs::create_directories(path / "a");
    fs::create_directories(path / "b");
  }
  ~ScratchDir() { fs::remove_all(path); }
};

// The RCPT checks, the locks and quotas and AUTH share one handle.
TEST(Users, OneHandleForOneDatabase) {
  ScratchDir dir;
  config::Config config;
  config.data_dir = dir.path / "a";
  Users users;
  auto first = users.open(config);
  auto second = users.open(config);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_TRUE(fs::exists(dir.path / "a" / "postern.db"));
}

// A reload that moves the data directory opens the new database; whoever
// holds the old handle can still finish with it.
TEST(Users, AMovedDatabaseIsOpenedAnew) {
  ScratchDir dir;
  config::Config config;
  config.data_dir = dir.path / "a";
  Users users;
  auto old_handle = users.open(config);
  config.data_dir = dir.path / "b";
  auto new_handle = users.open(config);
  EXPECT_NE(old_handle.get(), new_handle.get());
  EXPECT_FALSE(old_handle->get("nobody@example.org").has_value());
}

TEST(Users, AnUnopenableDatabaseThrows) {
  config::Config config;
  config.data_dir = "/nonexistent/postern-test/data";
  Users users;
  EXPECT_ANY_THROW(users.open(config));
}

}  // namespace
}  // namespace postern::admission
