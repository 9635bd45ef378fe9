// `postern dkim keygen DOMAIN [--selector S] [--algorithm rsa|ed25519]`
// (SPEC §11): writes data_dir/dkim/DOMAIN.S.key (0600, never over an
// existing key) and prints the TXT record to publish.
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/chrono.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "dkim/key.hpp"
#include "store/durable_file.hpp"

namespace postern::cli {
namespace {

struct KeygenOptions {
  StateOptions state;
  std::string domain;
  std::string selector;
  std::string algorithm = "rsa";
};

bool valid_domain(const std::string& d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.' || d.find("..") != std::string::npos)
    return false;
  for (char c : d)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  return true;
}

// Like chasquid's and opendkim-genkey's default: the date, here with the
// algorithm so that an RSA and an Ed25519 key made the same day coexist.
std::string default_selector(dkim::Algorithm a) {
  const auto date = fmt::format("{:%Y%m%d}", fmt::gmtime(std::time(nullptr)));
  return (a == dkim::Algorithm::rsa ? "rsa-" : "ed25519-") + date;
}

int keygen(const KeygenOptions& o) {
  if (!valid_domain(o.domain)) {
    std::cerr << "postern dkim: not a domain name: " << o.domain << "\n";
    return Exit::usage;
  }
  const auto algorithm = o.algorithm == "ed25519" ? dkim::Algorithm::ed25519 : dkim::Algorithm::rsa;
  const std::string selector = o.selector.empty() ? default_selector(algorithm) : o.selector;
  if (!dkim::valid_selector(selector)) {
    std::cerr << "postern dkim: a selector is one DNS label (letters, digits, '-'): " << selector << "\n";
    return Exit::usage;
  }
  config::Config cfg;
  try {
    cfg = o.state.load();
  } catch (const config::Error& e) {
    return report(e);
  }
  std::string domain = o.domain;
  for (auto& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto file = dkim::key_file(cfg.dkim_dir(), domain, selector);
  std::string pem, txt;
  try {
    pem = dkim::generate(algorithm);
    txt = dkim::txt_record(pem);
  } catch (const dkim::KeyError& e) {
    std::cerr << "postern dkim: " << e.what() << "\n";
    return Exit::software;
  }
  // Whole or not at all, and never over an existing key (its record may be
  // published): temp file, fsync, link(2), directory fsync.
  bool created = false;
  try {
    store::create_directories_durably(cfg.dkim_dir());
    created = store::create_durably(file, pem, 0600, [&](const std::filesystem::path& tmp) {
      // A server running as `user` must read what root wrote.
      if (::geteuid() != 0 || cfg.user.empty()) return;
      if (const passwd* pw = ::getpwnam(cfg.user.c_str()); pw && ::chown(tmp.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        std::cerr << "postern dkim: cannot hand " << file.string() << " to " << cfg.user << "\n";
    });
  } catch (const store::IoError& e) {
    const int err = e.code().value();
    std::cerr << "postern dkim: " << e.what() << ": " << std::strerror(err) << "\n";
    return err == EACCES || err == EPERM ? Exit::no_perm : Exit::cant_create;
  }
  if (!created) {
    std::cerr << "postern dkim: cannot create " << file.string() << ": " << std::strerror(EEXIST)
              << " (choose another --selector, or remove the old key once its record is gone)\n";
    return Exit::cant_create;
  }
  std::cerr << "postern dkim: wrote " << file.string() << " ("
            << (algorithm == dkim::Algorithm::rsa ? "rsa-sha256, 2048 bits" : "ed25519-sha256") << ");"
            << " publish this record, then mail from " << domain << " is signed with it:\n";
  std::cout << dkim::zone_line(domain, selector, txt) << "\n";
  return Exit::ok;
}

}  // namespace

void add_dkim(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("dkim", "DKIM signing keys (RFC 6376, RFC 8463)");
  sub->require_subcommand(1);
  auto opts = std::make_shared<KeygenOptions>();
  auto* gen = sub->add_subcommand("keygen", "Make a signing key for DOMAIN and print its DNS TXT record");
  gen->add_option("domain", opts->domain, "The signing domain (d=), as in From: addresses")->required();
  gen->add_option("--selector", opts->selector, "Selector (s=); default: ALGORITHM-YYYYMMDD");
  gen->add_option("--algorithm", opts->algorithm, "rsa (2048 bits, rsa-sha256) or ed25519 (ed25519-sha256)")
      ->check(CLI::IsMember({"rsa", "ed25519"}));
  opts->state.add_to(gen);
  gen->callback([opts, &result] { result = keygen(*opts); });
}

}  // namespace postern::cli
