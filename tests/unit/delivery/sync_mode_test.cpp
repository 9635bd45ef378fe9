#include "delivery/sync_mode.hpp"

#include <gtest/gtest.h>

#include "../store/test_util.hpp"

namespace postern::delivery {
namespace {

TEST(SyncMode, LocalFileSystemsAreSyncedFileByFileByDefaultToo) {
  // syncfs would also wait for every other program's dirty pages there.
  for (long long magic : {0xEF53LL, 0x58465342LL, 0x9123683ELL, 0x01021994LL}) {
    const auto k = classify_file_system(magic);
    EXPECT_FALSE(k.per_file_sync) << k.name;
    EXPECT_EQ(sync_mode_for(config::MailboxSync::automatic, k), SyncMode::fsync) << k.name;
    EXPECT_EQ(sync_mode_for(config::MailboxSync::syncfs, k), SyncMode::syncfs) << k.name;
  }
  EXPECT_EQ(classify_file_system(0xEF53).name, "ext4");
}

TEST(SyncMode, FuseAndNetworkFileSystemsSyncEachFile) {
  const std::pair<long long, const char*> remote[] = {
      {0x65735546, "fuse"}, {0x6969, "nfs"}, {0xFF534D42, "cifs"}, {0xFE534D42, "smb2"},
      {0x01021997, "9p"},   {0x00C36400, "ceph"}, {0x0BD00BD0, "lustre"}};
  for (const auto& [magic, name] : remote) {
    const auto k = classify_file_system(magic);
    EXPECT_EQ(k.name, name);
    EXPECT_TRUE(k.per_file_sync) << name;
    EXPECT_EQ(sync_mode_for(config::MailboxSync::automatic, k), SyncMode::fsync) << name;
  }
}

TEST(SyncMode, SignExtendedMagicIsRecognised) {
  // f_type is a signed long: CIFS's 0xFF534D42 may arrive negative.
  EXPECT_EQ(classify_file_system(static_cast<long long>(static_cast<int>(0xFF534D42))).name, "cifs");
}

TEST(SyncMode, UnknownFileSystemIsSyncedFileByFile) {
  const auto k = classify_file_system(0x12345678);
  EXPECT_EQ(k.name, "0x12345678");
  EXPECT_TRUE(k.per_file_sync);
}

TEST(SyncMode, ConfigurationForcesAMode) {
  const auto ext4 = classify_file_system(0xEF53), fuse = classify_file_system(0x65735546);
  EXPECT_EQ(sync_mode_for(config::MailboxSync::fsync, ext4), SyncMode::fsync);
  EXPECT_EQ(sync_mode_for(config::MailboxSync::syncfs, fuse), SyncMode::syncfs);
  EXPECT_EQ(to_string(SyncMode::fsync), "fsync");
  EXPECT_EQ(to_string(SyncMode::syncfs), "syncfs");
}

TEST(SyncMode, FileSystemOfAPathNotYetMadeIsItsParents) {
  store::testing::TempDir t;
  const auto here = file_system_of(t.path);
  const auto later = file_system_of(t.path / "mail" / "not" / "yet");
  ASSERT_TRUE(here && later);
  EXPECT_EQ(here->name, later->name);
}

}  // namespace
}  // namespace postern::delivery
