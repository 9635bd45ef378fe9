// The driver that runs a fuzz target without libFuzzer, for `make test`
// (GCC, ASan/UBSan): every file of the corpus directories first, then
// mutations of them for a few seconds (random byte edits, inserts of the
// octets parsers care about, splices of two inputs), from a printed seed.
// It finds less than libFuzzer's coverage-guided search (`make fuzz`),
// but it runs in every CI build, so a regression in any parser on a known
// input, or near one, fails the suite.
//
//   fuzz_TARGET [-seconds=N] [-seed=S] [-crash_dir=D] DIR...
//
// On a crash (an abort from an invariant, or a sanitizer report) the input
// is written to D (default ".") as crash-TARGET-<seed>, to be added to
// fuzz/corpus/TARGET/ and to a unit test.
#include <sanitizer/common_interface_defs.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string g_current;     // the input being run
std::string g_crash_path;  // where it goes if the target dies

void save_current() {
  std::FILE* f = std::fopen(g_crash_path.c_str(), "wb");
  if (!f) return;
  std::fwrite(g_current.data(), 1, g_current.size(), f);
  std::fclose(f);
  std::fprintf(stderr, "fuzz: the crashing input is in %s (%zu octets)\n", g_crash_path.c_str(), g_current.size());
}

extern "C" void on_abort(int) {
  save_current();
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

void run(const std::string& input) {
  g_current = input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(g_current.data()), g_current.size());
}

// Octets the project's parsers branch on.
constexpr char interesting[] = "\r\n\0 .:@<>[]\"\\=+-/%!#,;()\t\x7f\x80\xc3\xff" "0123456789AZaz";

std::string mutate(std::string s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // insert an interesting octet
        s.insert(s.begin() + static_cast<long>(pick(s.size() + 1)), interesting[pick(sizeof interesting - 1)]);
        break;
      case 2:  // erase a run
        if (!s.empty()) {
          auto at = pick(s.size());
          s.erase(at, 1 + pick(std::min<std::size_t>(16, s.size() - at)));
        }
        break;
      case 3:  // duplicate a run
        if (!s.empty() && s.size() < 1 << 16) {
          auto at = pick(s.size());
          auto n = 1 + pick(std::min<std::size_t>(64, s.size() - at));
          s.insert(at, s.substr(at, n));
        }
        break;
      case 4:  // splice with another input
        if (!corpus.empty()) {
          const auto& o = corpus[pick(corpus.size())];
          s = s.substr(0, pick(s.size() + 1)) + o.substr(pick(o.size() + 1));
        }
        break;
      default:  // overwrite with a random octet
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng());
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::uint64_t seed = std::random_device{}();
  std::string crash_dir = ".";
  std::vector<std::filesystem::path> dirs;
  const std::string target = std::filesystem::path(argv[0]).filename().string();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-seconds=", 0) == 0) seconds = std::atof(a.c_str() + 9);
    else if (a.rfind("-seed=", 0) == 0) seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    else if (a.rfind("-crash_dir=", 0) == 0) crash_dir = a.substr(11);
    else dirs.emplace_back(a);
  }
  g_crash_path = crash_dir + "/crash-" + target + "-" + std::to_string(seed);
  std::signal(SIGABRT, on_abort);
  __sanitizer_set_death_callback(save_current);

  std::vector<std::string> corpus;
  for (const auto& d : dirs) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(d, ec)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) corpus.emplace_back();
  for (const auto& c : corpus) run(c);

  std::mt19937_64 rng(seed);
  std::uint64_t runs = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 64; ++i, ++runs) run(mutate(corpus[rng() % corpus.size()], corpus, rng));
  }
  std::printf("%s: %zu corpus inputs and %llu mutations (seed %llu) ran clean\n", target.c_str(), corpus.size(),
              static_cast<unsigned long long>(runs), static_cast<unsigned long long>(seed));
  return 0;
}
