// The per-connection "in flight" markers and what a restart makes of them.
#include "queue/inflight.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "store/durable_file.hpp"
#include "util/ids.hpp"

namespace postern::queue {
namespace {

namespace fs = std::filesystem;

struct Dir {
  fs::path path = fs::temp_directory_path() / ("postern-inflight-" + util::random_hex(6));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  std::size_t files() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), fs::directory_iterator()));
  }
};

TEST(InflightMarker, NamesTheMessageInFlightOnly) {
  Dir d;
  {
    InflightMarker m(d.path);
    EXPECT_EQ(d.files(), 1u);
    EXPECT_TRUE(take_inflight_markers(d.path).empty());  // idle: nothing to count (and the file goes)
  }
  InflightMarker a(d.path), b(d.path), c(d.path);
  EXPECT_EQ(d.files(), 3u);
  EXPECT_EQ(a.set("0123456789abcdef"), 0);
  EXPECT_EQ(b.set("fedcba9876543210"), 0);
  b.clear(0);
  c.set("not-a-queue-id");  // ignored
  auto ids = take_inflight_markers(d.path);
  EXPECT_EQ(ids, std::vector<std::string>{"0123456789abcdef"});
  EXPECT_EQ(d.files(), 0u);
}

TEST(InflightMarker, OneFileRewrittenForEachMessage) {
  Dir d;
  {
    InflightMarker m(d.path, 2);
    for (int i = 0; i < 100; ++i) m.clear(m.set(i % 2 ? "00000000000000aa" : "00000000000000bb"));
    const int first = m.set("00000000000000cc");
    const int second = m.set("00000000000000dd");
    EXPECT_EQ(m.set("00000000000000ee"), -1);  // both slots taken
    EXPECT_EQ(m.busy(), 2u);
    EXPECT_EQ(d.files(), 1u);
    const auto file = fs::directory_iterator(d.path)->path();
    EXPECT_EQ(store::read_file(file), "00000000000000cc\n00000000000000dd\n");
    m.clear(first);
    EXPECT_EQ(store::read_file(file), "----------------\n00000000000000dd\n");
    m.clear(second);
  }
  EXPECT_EQ(d.files(), 0u);  // removed with the connection
}

// A connection dropped with a message in flight (the server stopping
// before its outcome was recorded): the marker outlives it.
TEST(InflightMarker, KeptWhenDestroyedInFlight) {
  Dir d;
  {
    InflightMarker m(d.path, 2);
    m.clear(m.set("fedcba9876543210"));
    m.set("0123456789abcdef");
  }
  EXPECT_EQ(take_inflight_markers(d.path), std::vector<std::string>{"0123456789abcdef"});
}

TEST(InflightMarker, EarlierFormatIsCounted) {
  Dir d;
  // One file per message, named by its queue id, as earlier versions wrote them.
  std::ofstream(d.path / "0123456789abcdef.1a2b3c4d") << "mx.example.net\n";
  std::ofstream(d.path / "junk") << "whatever\n";
  auto ids = take_inflight_markers(d.path);
  EXPECT_EQ(ids, std::vector<std::string>{"0123456789abcdef"});
  EXPECT_EQ(d.files(), 0u);
}

TEST(InflightMarker, UnwritableDirectoryIsHarmless) {
  InflightMarker m(fs::temp_directory_path() / ("postern-missing-" + util::random_hex(6)));
  EXPECT_EQ(m.set("0123456789abcdef"), 0);
  m.clear(0);
  EXPECT_TRUE(take_inflight_markers(fs::temp_directory_path() / ("postern-missing-" + util::random_hex(6))).empty());
}

}  // namespace
}  // namespace postern::queue
