// Decisions per second of a greylist store alone (SqliteStore or
// RedisStore), from N threads, every triplet already passed (the steady
// state of a busy MX), plus the first-sight path. Usage:
//   greylist_bench --store sqlite|redis://127.0.0.1:6379/0 [--dir D]
//                  [--threads N] [--seconds S] [--triplets K]
// Prints one line per phase: "store=... phase=... threads=N decisions=D seconds=S per_second=R".
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "policy/redis_store.hpp"
#include "policy/sqlite_store.hpp"
#include "util/ids.hpp"

using namespace postern::policy;

namespace {

Triplet triplet(int i) {
  return {"198.51." + std::to_string(i % 250) + ".0/24", "sender" + std::to_string(i) + "@example.net",
          "user" + std::to_string(i % 50) + "@example.org"};
}

void phase(Store& store, const char* name, const std::string& spec, int threads, double seconds, int triplets,
           Millis now, const Timing& timing, bool fresh) {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::vector<std::thread> pool;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      long i = t;
      while (!stop.load(std::memory_order_relaxed)) {
        try {
          Triplet tr = fresh ? Triplet{"203.0.113.0/24", "new" + std::to_string(t) + "-" + std::to_string(i) + "@x.example",
                                       "r@example.org"}
                             : triplet(static_cast<int>(i % triplets));
          store.decide(tr, timing, now, 0);
          done.fetch_add(1, std::memory_order_relaxed);
        } catch (const StoreError&) {
          errors.fetch_add(1);
        }
        i += threads;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("store=%s phase=%s threads=%d decisions=%ld errors=%ld seconds=%.2f per_second=%.0f\n", spec.c_str(),
              name, threads, done.load(), errors.load(), elapsed, done.load() / elapsed);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string spec = "sqlite", dir;
  int threads = 4, triplets = 10000;
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--store") spec = v;
    else if (k == "--dir") dir = v;
    else if (k == "--threads") threads = std::atoi(v.c_str());
    else if (k == "--seconds") seconds = std::atof(v.c_str());
    else if (k == "--triplets") triplets = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 64;
    }
  }
  std::unique_ptr<Store> store;
  bool own_dir = false;
  try {
    if (spec == "sqlite") {
      if (dir.empty()) {
        dir = (std::filesystem::temp_directory_path() / ("postern-bench-" + postern::util::random_hex(6))).string();
        own_dir = true;
      }
      std::filesystem::create_directories(dir);
      store = std::make_unique<SqliteStore>(std::filesystem::path(dir) / "postern.db");
    } else {
      store = std::make_unique<RedisStore>(spec, "bench" + postern::util::random_hex(4) + ":");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "greylist_bench: %s\n", e.what());
    return 69;
  }
  Timing timing{300'000, 172'800'000, 3'024'000'000, 0};
  Millis t0 = SystemClock().now();
  // Every triplet seen, then passed: the steady state.
  for (int i = 0; i < triplets; ++i) store->decide(triplet(i), timing, t0, 0);
  for (int i = 0; i < triplets; ++i) store->decide(triplet(i), timing, t0 + timing.delay, 0);
  phase(*store, "passed", spec, threads, seconds, triplets, t0 + timing.delay + 1000, timing, false);
  phase(*store, "first_sight", spec, threads, seconds, triplets, t0 + timing.delay + 2000, timing, true);
  store->purge(0, true);
  store.reset();
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
