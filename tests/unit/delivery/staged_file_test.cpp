#include "delivery/staged_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "delivery/maildir.hpp"
#include "../store/test_util.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using store::testing::TempDir;

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

class Staged : public ::testing::TestWithParam<bool> {};

TEST_P(Staged, NothingIsInNewUntilPublishedThenTheWholeFile) {
  TempDir t;
  const auto box = t.path / "box";
  ensure_maildir(box);
  bool unnamed = GetParam();
  auto f = StagedFile::write(box, "1.Q1R0.h,S=9", "head\r\n", "body", unnamed);
  EXPECT_EQ(entries(box / "new"), 0u);
  EXPECT_EQ(entries(box / "tmp"), unnamed ? 0u : 1u) << "an unnamed file has no tmp/ entry";
  f.publish();
  EXPECT_EQ(read(box / "new" / "1.Q1R0.h,S=9"), "head\r\nbody");
  EXPECT_EQ(entries(box / "tmp"), 0u);
  struct stat st{};
  ASSERT_EQ(::stat((box / "new" / "1.Q1R0.h,S=9").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_nlink, 1u);
}

TEST_P(Staged, DiscardedLeavesNothing) {
  TempDir t;
  const auto box = t.path / "box";
  ensure_maildir(box);
  bool unnamed = GetParam();
  { auto f = StagedFile::write(box, "1.Q1R0.h,S=9", "head\r\n", "body", unnamed); }
  EXPECT_EQ(entries(box / "new"), 0u);
  EXPECT_EQ(entries(box / "tmp"), 0u);
}

TEST_P(Staged, ATakenNameIsAnErrorAndTheFileStaysStaged) {
  TempDir t;
  const auto box = t.path / "box";
  ensure_maildir(box);
  std::ofstream(box / "new" / "1.Q1R0.h,S=9") << "already";
  bool unnamed = GetParam();
  auto f = StagedFile::write(box, "1.Q1R0.h,S=9", "head\r\n", "body", unnamed);
  if (unnamed) {
    EXPECT_THROW(f.publish(), store::IoError);
    EXPECT_EQ(read(box / "new" / "1.Q1R0.h,S=9"), "already");
  }
  f.discard();
  EXPECT_EQ(entries(box / "tmp"), 0u);
}

TEST(StagedFile, AMissingMailboxIsAnError) {
  TempDir t;
  bool unnamed = true;
  EXPECT_THROW(StagedFile::write(t.path / "none", "n", "h", "b", unnamed), store::IoError);
}

INSTANTIATE_TEST_SUITE_P(UnnamedOrTmp, Staged, ::testing::Values(true, false));

}  // namespace
}  // namespace postern::delivery
