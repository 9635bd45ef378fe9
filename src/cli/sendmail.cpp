// `postern sendmail` (SPEC §11), also run as `sendmail`; `mailq` is
// `postern queue list`. What cron, git send-email, PHP's mail() and
// unattended-upgrades call: the message on stdin goes into the spool
// durably (fsync before exit 0), with no network round trip; a running
// server is told at once (a retry request its scheduler watches) and
// delivers it, locally or through the queue.
//
// Options as Postfix's sendmail takes them: -t (recipients from To, Cc and
// Bcc, added to those given; Bcc is removed), -i / -oi (a lone "." is not
// the end), -f ADDR / -fADDR / -r (envelope sender), -F NAME (full name for
// a From: we add), -v (say the queue id), -bm (the default), -bp (list the
// queue), other -o flags ignored. The configuration is --config, else
// $POSTERN_CONFIG, else /etc/postern/postern.toml, else as `postern serve`.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "mime/header_section.hpp"
#include "mime/reader.hpp"
#include "queue/control.hpp"
#include "store/spool.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

namespace postern::cli {
namespace {

struct SendmailArgs {
  bool extract = false;     // -t
  bool ignore_dots = false;  // -i, -oi
  bool verbose = false;
  bool list_queue = false;  // -bp
  std::string sender, full_name, config_file;
  std::vector<std::string> recipients;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

SendmailArgs parse_args(const std::vector<std::string>& args) {
  SendmailArgs a;
  bool options = true;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto value = [&](std::size_t prefix) -> std::string {
      if (s.size() > prefix) return s.substr(prefix);
      if (i + 1 >= args.size()) throw UsageError("option " + s + " needs a value");
      return args[++i];
    };
    if (!options || s.empty() || s[0] != '-') {
      a.recipients.push_back(s);
      continue;
    }
    if (s == "--") options = false;
    else if (s == "-t") a.extract = true;
    else if (s == "-i" || s == "-oi") a.ignore_dots = true;
    else if (s == "-v") a.verbose = true;
    else if (s == "-bm") {
    } else if (s == "-bp") a.list_queue = true;
    else if (s.rfind("-b", 0) == 0) throw UsageError("mode " + s + " is not supported (only -bm and -bp)");
    else if (s.rfind("-f", 0) == 0 || s.rfind("-r", 0) == 0) a.sender = value(2);
    else if (s.rfind("-F", 0) == 0) a.full_name = value(2);
    else if (s == "--config") a.config_file = value(8);
    else if (s.rfind("--config=", 0) == 0) a.config_file = s.substr(9);
    else if (s.rfind("-o", 0) == 0 || s.rfind("-O", 0) == 0) {
      // -odi, -oem, -oQ...: sendmail tuning that has no meaning here.
    } else {
      throw UsageError("unknown option " + util::printable(s, 40));
    }
  }
  return a;
}

std::optional<std::filesystem::path> config_path(const SendmailArgs& a) {
  if (!a.config_file.empty()) return a.config_file;
  if (const char* env = std::getenv("POSTERN_CONFIG"); env && *env) return std::filesystem::path(env);
  if (std::filesystem::exists("/etc/postern/postern.toml")) return "/etc/postern/postern.toml";
  return std::nullopt;
}

std::string local_user() {
  if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
  return "uid" + std::to_string(::getuid());
}

// "alice" → "alice@<first local domain>", as Postfix appends myorigin.
std::string qualify(std::string address, const config::Config& cfg) {
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') address = address.substr(1, address.size() - 2);
  if (address.find('@') == std::string::npos && !address.empty())
    address += "@" + (cfg.local_domains.empty() ? cfg.hostname : cfg.local_domains.front());
  return address;
}

bool plausible_address(const std::string& a) {
  auto at = a.rfind('@');
  if (at == 0 || at == std::string::npos || at + 1 == a.size() || a.size() > 320) return false;
  for (unsigned char c : a)
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',') return false;
  return true;
}

// stdin, LF or CRLF, as CRLF lines; without -i a line "." alone ends it.
// Read in bounded pieces: a line is no longer than what is read, so a
// message over `limit` is refused before it takes more than `limit` octets,
// newlines or not.
std::string read_message(bool ignore_dots, std::uint64_t limit) {
  std::string out, line;
  std::vector<char> piece(64 * 1024);
  auto end_line = [&] {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!ignore_dots && line == ".") return false;
    out += line;
    out += "\r\n";
    line.clear();
    return true;
  };
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, piece.data(), piece.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("cannot read the message: ") + std::strerror(errno));
    if (n == 0) break;
    for (std::string_view rest(piece.data(), static_cast<std::size_t>(n)); !rest.empty();) {
      const auto nl = rest.find('\n');
      line.append(rest.substr(0, nl));
      if (out.size() + line.size() > limit) throw std::length_error("message too big");
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
      if (!end_line()) return out;
    }
  }
  if (!line.empty()) end_line();
  if (out.size() > limit) throw std::length_error("message too big");
  return out;
}

// Leading UNIX "From " envelope lines (mbox, `git format-patch --stdout`)
// are no header fields: dropped, as Postfix's sendmail does, so the header
// section that follows is read as one.
std::string without_envelope_lines(std::string message) {
  std::size_t start = 0;
  while (start < message.size()) {
    const std::string_view line = std::string_view(message).substr(start);
    const auto text = line.find_first_not_of('>');
    if (text == std::string_view::npos || line.substr(text, 5) != "From ") break;
    const auto nl = line.find('\n');
    start = nl == std::string_view::npos ? message.size() : start + nl + 1;
  }
  return message.erase(0, start);
}

int run_sendmail(const SendmailArgs& a) {
  config::Config cfg;
  try {
    cfg = config::load(config_path(a), std::nullopt);
  } catch (const config::Error& e) {
    return report(e);
  }
  const std::string user = local_user();
  const std::string sender = qualify(a.sender.empty() ? user : a.sender, cfg);
  if (!a.sender.empty() && a.sender != "<>" && !plausible_address(sender)) {
    std::cerr << "postern sendmail: bad sender address " << util::printable(a.sender, 80) << "\n";
    return Exit::usage;
  }
  std::string message;
  try {
    message = mime::with_body_separator(without_envelope_lines(read_message(a.ignore_dots, cfg.limits.max_message_size)));
  } catch (const std::length_error&) {
    std::cerr << "postern sendmail: the message is larger than limits.max_message_size ("
              << config::format_size(cfg.limits.max_message_size) << ")\n";
    return Exit::data_error;
  } catch (const std::runtime_error& e) {
    std::cerr << "postern sendmail: " << e.what() << "\n";
    return Exit::temp_fail;
  }
  std::vector<std::string> recipients;
  for (const auto& r : a.recipients) recipients.push_back(qualify(r, cfg));
  if (a.extract) {
    for (auto& r : mime::header_recipients(message)) recipients.push_back(qualify(r, cfg));
    message = mime::without_bcc(message);
  }
  for (const auto& r : recipients) {
    if (!plausible_address(r)) {
      std::cerr << "postern sendmail: bad recipient address " << util::printable(r, 80) << "\n";
      return Exit::usage;
    }
  }
  if (recipients.empty()) {
    std::cerr << "postern sendmail: no recipients (give them as arguments, or -t to take To, Cc and Bcc)\n";
    return Exit::usage;
  }

  const std::string id = store::Spool::new_id();
  const auto now = std::chrono::system_clock::now();
  const std::string date = fmt::format("{:%a, %d %b %Y %H:%M:%S +0000}", fmt::gmtime(std::chrono::system_clock::to_time_t(now)));
  // What a local submission lacks, as Postfix's cleanup adds it.
  std::string head = "Received: by " + cfg.hostname + " (Postern sendmail, from userid " + std::to_string(::getuid()) +
                     ")\r\n\tid " + id + "; " + date + "\r\n";
  if (!mime::has_field(message, "From"))
    head += "From: " + (a.full_name.empty() ? "" : "\"" + util::printable(a.full_name, 100) + "\" ") + "<" + sender + ">\r\n";
  if (!mime::has_field(message, "Date")) head += "Date: " + date + "\r\n";
  if (!mime::has_field(message, "Message-ID")) head += "Message-ID: <" + id + "." + util::random_hex(4) + "@" + cfg.hostname + ">\r\n";
  message = head + message;

  store::Envelope env;
  env.reverse_path = a.sender == "<>" ? "" : sender;
  env.recipients = recipients;
  env.client_address = "127.0.0.1";
  env.client_helo = "localhost";
  env.auth_identity = user;
  env.any_sender = ::getuid() == 0;  // root may send as anyone (SPEC §11); others as their own addresses
  env.received_at = now;
  try {
    store::Spool spool(cfg.spool_dir());
    spool.put(env, message, id);
    // A server running as `user` must read what root wrote.
    if (::geteuid() == 0 && !cfg.user.empty())
      if (const passwd* pw = ::getpwnam(cfg.user.c_str())) {
        for (const char* ext : {".msg", ".state"}) {
          auto p = cfg.spool_dir() / (id + ext);
          if (std::filesystem::exists(p) && ::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0)
            std::cerr << "postern sendmail: cannot hand " << p.string() << " to " << cfg.user << "\n";
        }
      }
    queue::request_retry(cfg, id);  // a running server delivers it now; otherwise at its start
  } catch (const store::IoError& e) {
    const int err = e.code().value();
    std::cerr << "postern sendmail: cannot queue the message in " << cfg.spool_dir().string() << ": " << e.what()
              << (err == EACCES || err == EPERM ? " (run it as root or as the server's user)" : "") << "\n";
    return err == EACCES || err == EPERM ? Exit::no_perm : Exit::temp_fail;
  } catch (const std::exception& e) {
    std::cerr << "postern sendmail: cannot queue the message: " << e.what() << "\n";
    return Exit::temp_fail;
  }
  if (a.verbose) std::cerr << "postern sendmail: queued as " << id << " for " << recipients.size() << " recipient(s)\n";
  return Exit::ok;
}

}  // namespace

void add_sendmail(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("sendmail", "Queue a message from stdin, as sendmail(8) does (-t -i -f -F -v -bp)");
  sub->prefix_command();  // sendmail's own option syntax, parsed below
  sub->callback([&result, sub] {
    SendmailArgs a;
    try {
      a = parse_args(sub->remaining());
    } catch (const UsageError& e) {
      std::cerr << "postern sendmail: " << e.what() << "\n";
      result = Exit::usage;
      return;
    }
    if (a.list_queue) {
      std::vector<std::string> argv{"postern", "queue", "list"};
      if (auto p = config_path(a)) argv.push_back("--config=" + p->string());
      std::vector<char*> raw;
      for (auto& s : argv) raw.push_back(s.data());
      result = run(static_cast<int>(raw.size()), raw.data());
      return;
    }
    result = run_sendmail(a);
  });
}

}  // namespace postern::cli
