// The TOML loader: golden files (data/<name>.toml → data/<name>.ref holding
// either the effective configuration or the one-line error), path
// resolution, --data-dir, ./postern.toml discovery and the round trip
// load(to_toml(c)) == c.
//
// Set POSTERN_UPDATE_GOLDEN=1 to rewrite the .ref files after a deliberate
// change; review the diff before committing it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/config.hpp"

namespace postern::config {
namespace {

namespace fs = std::filesystem;

fs::path data_dir() {
  const char* d = std::getenv("POSTERN_TEST_DATA");
  return d ? fs::path(d) : fs::path("data");
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
  return s;
}

// What a user would see for this file: the effective config, or the error line.
std::string outcome(const fs::path& file) {
  try {
    return to_toml(load(file, std::nullopt));
  } catch (const Error& e) {
    std::ostringstream o;
    o << "error: " << e.file << ':' << e.line << ": " << e.key << ": " << e.what() << '\n';
    return o.str();
  }
}

TEST(Golden, EveryDataFile) {
  auto dir = data_dir();
  bool update = std::getenv("POSTERN_UPDATE_GOLDEN") != nullptr;
  std::vector<fs::path> files;
  for (auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".toml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 20u) << "golden files missing in " << dir;
  for (auto& file : files) {
    auto got = replace_all(outcome(file), dir.string(), "@DATA@");
    auto ref = fs::path(file).replace_extension(".ref");
    if (update) {
      spit(ref, got);
      continue;
    }
    ASSERT_TRUE(fs::exists(ref)) << ref << " missing";
    EXPECT_EQ(got, slurp(ref)) << "golden mismatch for " << file.filename();
  }
}

// Each test gets its own directory and runs inside it; the cwd is restored.
class LoaderFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = fs::current_path();
    char tmpl[] = "/tmp/postern-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    fs::current_path(old_cwd_);
    fs::remove_all(dir_);
  }
  fs::path write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    fs::create_directories(p.parent_path());
    spit(p, text);
    return p;
  }
  fs::path old_cwd_, dir_;
};

TEST_F(LoaderFiles, RelativeDataDirIsRelativeToTheConfigFile) {
  auto file = write("etc/postern.toml", "data_dir = \"../var/postern\"\n[tls]\ncert = \"certs/c.pem\"\nkey = \"/abs/k.pem\"\n");
  fs::current_path("/");
  auto c = load(file, std::nullopt);
  EXPECT_EQ(c.data_dir, (dir_ / "var/postern").lexically_normal());
  EXPECT_EQ(c.tls.cert, c.data_dir / "certs/c.pem");
  EXPECT_EQ(c.tls.key, fs::path("/abs/k.pem"));
  EXPECT_EQ(c.mailbox_for("bob", "Example.ORG"), c.data_dir / "mail/example.org/bob");
}

TEST_F(LoaderFiles, DataDirOptionWinsAndIsRelativeToTheCurrentDirectory) {
  auto file = write("postern.toml", "data_dir = \"/nonexistent/elsewhere\"\n");
  fs::current_path(dir_);
  auto c = load(file, fs::path("state"));
  EXPECT_EQ(c.data_dir, dir_ / "state");
  EXPECT_EQ(c.tls.cert, dir_ / "state/tls/cert.pem");
  EXPECT_EQ(c.tls.key, dir_ / "state/tls/key.pem");
}

TEST_F(LoaderFiles, PostmasterDefaultsToTheFirstLocalDomain) {
  auto file = write("a.toml", "local_domains = [\"Example.ORG\", \"example.net\"]\n");
  auto c = load(file, std::nullopt);
  EXPECT_EQ(c.postmaster, "postmaster@example.org");
  EXPECT_TRUE(c.is_local_domain("EXAMPLE.net"));
  file = write("b.toml", "local_domains = [\"example.org\"]\npostmaster = \"admin@example.net\"\n");
  EXPECT_EQ(load(file, std::nullopt).postmaster, "admin@example.net");
  file = write("c.toml", "hostname = \"mx.example.com\"\nlocal_domains = []\n");
  EXPECT_EQ(load(file, std::nullopt).postmaster, "postmaster@mx.example.com");
}

TEST_F(LoaderFiles, FindsPosternTomlInTheCurrentDirectory) {
  fs::current_path(dir_);
  auto c = load(std::nullopt, std::nullopt);
  EXPECT_EQ(c.source, "(embedded defaults)");
  EXPECT_EQ(c.data_dir, dir_ / "postern-data");
  ASSERT_EQ(c.listeners.size(), 2u);
  write("postern.toml", "local_domains = [\"example.org\"]\n");
  c = load(std::nullopt, std::nullopt);
  EXPECT_EQ(c.source, "postern.toml");
  EXPECT_EQ(c.local_domains, std::vector<std::string>{"example.org"});
  write("postern.toml", "bogus = 1\n");
  EXPECT_THROW(load(std::nullopt, std::nullopt), Error);
}

TEST_F(LoaderFiles, UnreadableFiles) {
  try {
    load(dir_ / "missing.toml", std::nullopt);
    FAIL() << "missing file accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.file, (dir_ / "missing.toml").string());
    EXPECT_EQ(e.line, 0u);
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
  try {
    load(dir_, std::nullopt);
    FAIL() << "directory accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  }
}

TEST_F(LoaderFiles, EffectiveConfigLoadsBackToTheSameConfig) {
  auto file = write("full.toml", slurp(data_dir() / "full.toml"));
  auto first = to_toml(load(file, std::nullopt));
  auto again = write("again.toml", first);
  auto second = to_toml(load(again, std::nullopt));
  // Only the comment naming the source differs.
  EXPECT_EQ(first.substr(first.find('\n')), second.substr(second.find('\n')));
  auto defaults_text = write("defaults.toml", to_toml(defaults()));
  auto d = to_toml(load(defaults_text, std::nullopt));
  auto want = to_toml(defaults());
  EXPECT_EQ(d.substr(d.find('\n')), want.substr(want.find('\n')));
}

}  // namespace
}  // namespace postern::config
