#include "store/journal.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <set>
#include <stdexcept>
#include <fstream>
#include <thread>

#include "store/durable_file.hpp"
#include "test_util.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

Envelope envelope(std::vector<std::string> rcpts) {
  Envelope e;
  e.reverse_path = "sender@remote.example";
  e.recipients = std::move(rcpts);
  e.client_address = "192.0.2.7";
  e.received_at = std::chrono::system_clock::now();
  return e;
}

std::vector<fs::path> segments(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Journal, RecordsRoundTripAndStopAtDamage) {
  std::string bytes = Journal::encode_record('M', "first") + Journal::encode_record('R', "id\n");
  auto recs = Journal::decode_records(bytes);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].type, 'M');
  EXPECT_EQ(recs[0].payload, "first");
  EXPECT_EQ(recs[1].payload, "id\n");

  // A torn tail (any prefix of the last record) keeps the records before it.
  const auto one = Journal::encode_record('M', "first").size();
  for (std::size_t cut = one; cut < bytes.size(); ++cut)
    EXPECT_EQ(Journal::decode_records(std::string_view(bytes).substr(0, cut)).size(), 1u) << cut;
  // A flipped payload octet fails the checksum.
  std::string bad = bytes;
  bad[one - 2] ^= 0x20;
  EXPECT_TRUE(Journal::decode_records(bad).empty());
  // Garbage, zeros (a preallocated tail) and an absurd length.
  EXPECT_TRUE(Journal::decode_records(std::string(64, '\0')).empty());
  EXPECT_TRUE(Journal::decode_records("J M 99999999999999999999 00000000\nx").empty());
  EXPECT_TRUE(Journal::decode_records("not a journal").empty());
}

TEST(Journal, LiveMessagesSurviveAndRetiredOnesDoNot) {
  TempDir t;
  auto e = envelope({"alice@example.org"});
  {
    Journal j(t.path / "journal");
    EXPECT_TRUE(j.recover().empty());
    j.append("00000001aaaaaaaa", e, "Subject: one\r\n\r\n1\r\n");
    j.append("00000002bbbbbbbb", e, "Subject: two\r\n\r\n2\r\n");
    j.append("00000003cccccccc", e, "Subject: three\r\n\r\n3\r\n");
    EXPECT_EQ(j.live(), 3u);
    j.retire({"00000002bbbbbbbb", "unknown"});
    EXPECT_EQ(j.live(), 2u);
  }
  Journal j(t.path / "journal");
  auto live = j.recover();
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].id, "00000001aaaaaaaa");
  EXPECT_EQ(live[0].message, "Subject: one\r\n\r\n1\r\n");
  EXPECT_EQ(live[0].envelope.recipients, e.recipients);
  EXPECT_EQ(live[0].envelope.client_address, "192.0.2.7");
  EXPECT_EQ(live[1].id, "00000003cccccccc");
  j.retire({live[0].id, live[1].id});
  EXPECT_EQ(j.live(), 0u);
}

TEST(Journal, NothingLiveLeavesNoSegment) {
  TempDir t;
  {
    Journal j(t.path / "journal");
    j.recover();
    j.append("00000001aaaaaaaa", envelope({"a@example.org"}), "x\r\n");
    j.retire({"00000001aaaaaaaa"});
  }
  EXPECT_TRUE(segments(t.path / "journal").empty());
}

TEST(Journal, FullSegmentsRotateAndGoOnceRetired) {
  TempDir t;
  Journal j(t.path / "journal", 1024);  // tiny segments
  j.recover();
  const std::string body(1100, 'x');
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back("0000000" + std::to_string(i) + "aaaaaaaa");
    j.append(ids.back(), envelope({"a@example.org"}), body);
  }
  EXPECT_GE(segments(t.path / "journal").size(), 5u);
  j.retire({ids.begin(), ids.end() - 1});
  // Only the segment holding the last live message is left.
  EXPECT_EQ(segments(t.path / "journal").size(), 1u);
  EXPECT_EQ(j.live(), 1u);
}

TEST(Journal, TornTailAfterACrashKeepsWhatWasAcknowledged) {
  TempDir t;
  {
    Journal j(t.path / "journal");
    j.recover();
    j.append("00000001aaaaaaaa", envelope({"a@example.org"}), "kept\r\n");
  }
  auto seg = segments(t.path / "journal");
  ASSERT_EQ(seg.size(), 1u);
  {
    // A crash in the middle of the next batch's write.
    std::ofstream out(seg[0], std::ios::app | std::ios::binary);
    std::string next = Journal::encode_record('M', "a record that never finished");
    out << next.substr(0, next.size() / 2);
  }
  Journal j(t.path / "journal");
  auto live = j.recover();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].message, "kept\r\n");
  // New records go to a new segment, never after the torn tail.
  j.append("00000002bbbbbbbb", envelope({"a@example.org"}), "new\r\n");
  EXPECT_EQ(segments(t.path / "journal").size(), 2u);
}

TEST(Journal, ConcurrentAppendsShareFlushes) {
  TempDir t;
  Journal j(t.path / "journal");
  j.recover();
  constexpr int threads = 16, per_thread = 20;
  std::vector<std::thread> pool;
  for (int th = 0; th < threads; ++th)
    pool.emplace_back([&, th] {
      for (int i = 0; i < per_thread; ++i) {
        char id[17];
        std::snprintf(id, sizeof id, "%08x%08x", th, i);
        j.append(id, envelope({"a@example.org"}), "m\r\n");
      }
    });
  for (auto& p : pool) p.join();
  EXPECT_EQ(j.live(), static_cast<std::size_t>(threads * per_thread));
  EXPECT_LE(j.flushes(), static_cast<std::uint64_t>(threads * per_thread));
  Journal again(t.path / "journal");
  EXPECT_EQ(again.recover().size(), static_cast<std::size_t>(threads * per_thread));
}

TEST(Journal, FailedFlushRefusesTheBatchAndStartsANewSegment) {
  TempDir t;
  Journal j(t.path / "journal");
  j.recover();
  j.append("00000001aaaaaaaa", envelope({"a@example.org"}), "before\r\n");
  {
    Syscalls broken = real_syscalls();
    broken.fsync = [](int) -> int {
      errno = EIO;
      return -1;
    };
    SyscallOverride o(broken);
    EXPECT_THROW(j.append("00000002bbbbbbbb", envelope({"a@example.org"}), "refused\r\n"), IoError);
  }
  j.append("00000003cccccccc", envelope({"a@example.org"}), "after\r\n");
  Journal again(t.path / "journal");
  auto live = again.recover();
  ASSERT_EQ(live.size(), 2u);  // the refused one does not come back
  EXPECT_EQ(live[0].message, "before\r\n");
  EXPECT_EQ(live[1].message, "after\r\n");
}

TEST(Journal, AsyncAppendsAreCalledBackOnceEachAndOnlyWhenDurable) {
  TempDir t;
  Journal j(t.path / "journal");
  j.recover();
  constexpr int threads = 8, per_thread = 50;
  std::atomic<int> called{0}, failed{0};
  std::mutex m;
  std::set<std::string> seen;
  std::vector<std::thread> pool;
  for (int th = 0; th < threads; ++th)
    pool.emplace_back([&, th] {
      for (int i = 0; i < per_thread; ++i) {
        char id[17];
        std::snprintf(id, sizeof id, "%08x%08x", th, i);
        std::string mine = id;
        j.append_async(id, envelope({"a@example.org"}), "m\r\n", [&, mine](int error) {
          if (error) ++failed;
          // Durable by now: a second journal reading the directory sees it.
          std::lock_guard lock(m);
          EXPECT_TRUE(seen.insert(mine).second) << "called twice: " << mine;
          ++called;
        });
      }
    });
  for (auto& p : pool) p.join();
  j.close();  // waits for every flush under way
  EXPECT_EQ(called.load(), threads * per_thread);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_LT(j.flushes(), static_cast<std::uint64_t>(threads * per_thread)) << "appends share flushes";
  Journal again(t.path / "journal");
  EXPECT_EQ(again.recover().size(), static_cast<std::size_t>(threads * per_thread));
}

TEST(Journal, AsyncAppendOfAFailedBatchIsCalledBackWithTheError) {
  TempDir t;
  Journal j(t.path / "journal");
  j.recover();
  int error = -1;
  {
    Syscalls broken = real_syscalls();
    broken.fsync = [](int) -> int {
      errno = EIO;
      return -1;
    };
    SyscallOverride o(broken);
    j.append_async("00000002bbbbbbbb", envelope({"a@example.org"}), "refused\r\n", [&](int e) { error = e; });
  }
  EXPECT_EQ(error, EIO);  // this thread flushed: called before append_async returned
  bool after = false;
  j.append_async("00000003cccccccc", envelope({"a@example.org"}), "after\r\n", [&](int e) { after = e == 0; });
  EXPECT_TRUE(after);
  Journal again(t.path / "journal");
  auto live = again.recover();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].message, "after\r\n");
}

TEST(Journal, AThrowingCallbackDoesNotStrandTheRestOfItsBatch) {
  TempDir t;
  Journal j(t.path / "journal");
  j.recover();
  bool second = false;
  j.append_async("00000001aaaaaaaa", envelope({"a@example.org"}), "one\r\n",
                 [](int) { throw std::runtime_error("caller's bug"); });
  j.append_async("00000002bbbbbbbb", envelope({"a@example.org"}), "two\r\n", [&](int e) { second = e == 0; });
  EXPECT_TRUE(second);
  EXPECT_EQ(j.live(), 2u);
}

}  // namespace
}  // namespace postern::store
