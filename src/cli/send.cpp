// `postern send` (SPEC §6): submit one message through the client session,
// with AUTH, TLS, a -v transcript, and --retry-for on temporary failures.
// Exit codes follow SPEC §2: 0 delivered to every recipient, 64 usage, 65
// bad message file, 69 permanent refusal or failed certificate check, 75
// temporary failure (4xx, refused or dropped connection), 76 protocol
// error, 77 authentication failure (including an OAuth token command that
// fails or prints nothing: no credentials to authenticate with).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "client/auth.hpp"
#include "client/message.hpp"
#include "client/retry.hpp"
#include "client/session.hpp"
#include "client/token_command.hpp"
#include "config/config.hpp"
#include "explain/explain.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/oauth_client.hpp"
#include "util/strings.hpp"

namespace postern::cli {

namespace {

using client::Error;
using Clock = std::chrono::steady_clock;

struct SendArgs {
  std::string server;
  std::string tls = "auto";
  bool insecure = false;
  std::string ca;
  std::string user;
  bool password_stdin = false;
  std::string token_command;
  std::string mech;
  std::string from;
  std::vector<std::string> to;
  std::string subject;
  std::string body;
  std::string message;
  std::string retry_for;
  bool retry_given = false;
  bool verbose = false;
};

// What one attempt produced, recipient by recipient.
struct Attempt {
  std::optional<Error> error;
  client::Delivery delivery;
  std::string mechanism;
  bool authenticated = false;
};

int usage(const std::string& what) {
  std::cerr << "postern send: " << what << "\n";
  return Exit::usage;
}

int data_error(const std::string& what) {
  std::cerr << "postern send: " << what << "\n";
  return Exit::data_error;
}

bool read_file(const std::string& path, std::string& out, std::string& why) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    why = "cannot read " + path + ": it is a directory";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream data;
  data << in.rdbuf();
  if (in.bad()) {
    why = "cannot read " + path;
    return false;
  }
  out = data.str();
  return true;
}

// "host:port", "[v6]:port", "host" (port from the TLS mode).
bool parse_server(const std::string& s, client::TlsMode tls, std::string& host, std::string& port) {
  std::string default_port = tls == client::TlsMode::implicit ? "465" : tls == client::TlsMode::none ? "25" : "587";
  if (s.empty()) return false;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close == 1) return false;
    host = s.substr(1, close - 1);
    if (close + 1 == s.size()) {
      port = default_port;
    } else if (s[close + 1] == ':') {
      port = s.substr(close + 2);
    } else {
      return false;
    }
  } else {
    auto colon = s.rfind(':');
    if (colon != std::string::npos && s.find(':') != colon) return false;  // bare IPv6: needs brackets
    host = s.substr(0, colon);
    port = colon == std::string::npos ? default_port : s.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5) return false;
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  int p = std::stoi(port);
  return p > 0 && p < 65536;
}

int exit_code(const Error& e) {
  switch (e.kind) {
    case Error::Kind::protocol:
    case Error::Kind::tls:
      return Exit::protocol;
    case Error::Kind::certificate:
    case Error::Kind::no_tls:
    case Error::Kind::unsupported:
      return Exit::unavailable;
    case Error::Kind::auth:
    case Error::Kind::cleartext:
      if (e.reply && e.reply->temporary()) return Exit::temp_fail;  // 454 4.7.0: try later
      return Exit::no_perm;
    default:
      return e.temporary() ? Exit::temp_fail : Exit::unavailable;
  }
}

std::string clock_time(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

void print_transcript(const client::TranscriptLine& l) {
  using D = client::TranscriptLine::Direction;
  const char* prefix = l.direction == D::server ? "<- " : l.direction == D::client ? "-> " : "** ";
  // The dialogue made server lines printable already (a second pass would turn its \x5c into \x5cx5c).
  const bool escaped = l.direction == D::server;
  std::string line = prefix + (escaped ? l.text : util::printable(l.text, 4096));
  if (!l.note.empty()) line += "    [" + (escaped ? l.note : util::printable(l.note, 1024)) + "]";
  std::cerr << line << "\n";
}

// Prints a reply the way a user reads a failure: the reply itself, then
// what it means.
// `context`: what we know better than the reply's text (a refused OAuth
// token's error: the 535 text speaks of passwords), explained instead of it.
void print_reply_failure(const std::string& who, const smtp::Reply& r, const std::string& context = {}) {
  // The reply text is the next hop's: made printable before the terminal sees it.
  std::cerr << "postern send: " << util::printable(who, 600) << util::printable(r.summary(), 2048) << "\n";
  const auto lang = explain::default_lang();
  const auto a = explain::advice(r.code, r.enhanced, context.empty() ? r.text() : context, lang);
  std::cerr << "postern send:   means: " << a.meaning << "\n";
  if (!a.when.empty()) std::cerr << "postern send:   " << explain::label("when", lang) << ": " << a.when << "\n";
  if (!a.fix.empty()) std::cerr << "postern send:   " << explain::label("fix", lang) << ": " << a.fix << "\n";
}

// Sends to `rcpts` once: connect, TLS, AUTH, one transaction, QUIT.
Attempt attempt_once(const client::Options& options, const client::AuthRequest* auth, const client::Transaction& t) {
  Attempt a;
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        client::Session s(io.get_executor(), options);
        if ((a.error = co_await s.open())) co_return;
        if (auth) {
          if ((a.error = co_await client::authenticate(s, *auth, &a.mechanism))) {
            co_await s.quit();
            co_return;
          }
          a.authenticated = true;
        }
        a.error = co_await s.send(t, a.delivery);
        if (!a.error || a.error->kind == Error::Kind::unsupported) co_await s.quit();
        else s.close();
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  return a;
}

int run_send(SendArgs& args) {
  // ---- the command line
  client::TlsMode tls;
  if (args.tls == "auto") tls = client::TlsMode::automatic;
  else if (args.tls == "starttls") tls = client::TlsMode::starttls;
  else if (args.tls == "implicit") tls = client::TlsMode::implicit;
  else if (args.tls == "none") tls = client::TlsMode::none;
  else return usage("--tls must be auto, starttls, implicit or none, not \"" + args.tls + "\"");

  client::Options options;
  if (!parse_server(args.server, tls, options.host, options.port))
    return usage("--server must be HOST:PORT (IPv6 as [ADDR]:PORT), not \"" + args.server + "\"");
  options.tls = tls;
  options.verify_certificate = !args.insecure;
  if (!args.ca.empty()) {
    std::ifstream ca(args.ca);
    if (!ca) return usage("cannot read the CA file " + args.ca + ": " + std::strerror(errno));
    if (args.insecure) return usage("--ca and --insecure contradict each other");
    options.ca_file = args.ca;
  }

  std::string from(client::strip_brackets(args.from));
  if (auto e = client::address_error(from)) return usage("bad --from address \"" + util::printable(from) + "\": " + *e);
  std::vector<std::string> rcpts;
  for (auto& t : args.to) {
    std::string r(client::strip_brackets(t));
    if (auto e = client::address_error(r)) return usage("bad --to address \"" + util::printable(r) + "\": " + *e);
    rcpts.push_back(r);
  }

  std::optional<std::chrono::seconds> retry_for;
  if (args.retry_given) {
    try {
      retry_for = config::parse_duration(args.retry_for);
    } catch (const std::exception& e) {
      return usage("bad --retry-for duration \"" + args.retry_for + "\": use a number with s, m, h or d (30s, 5m, 2h)");
    }
  }

  if (!args.message.empty() && !args.body.empty()) return usage("--message and --body cannot be used together");
  if (!args.message.empty() && !args.subject.empty())
    return usage("--subject cannot be used with --message (the message has its own headers)");
  if (args.subject.find_first_of("\r\n") != std::string::npos) return usage("--subject must be one line");
  if (args.subject.find('\0') != std::string::npos) return usage("--subject contains a NUL byte");

  std::optional<client::AuthRequest> auth;
  const bool oauth = sasl::parse_oauth_mechanism(args.mech).has_value() || !args.token_command.empty();
  if (!args.mech.empty() && !sasl::parse_mechanism(args.mech) && !sasl::parse_oauth_mechanism(args.mech))
    return usage("unknown --mech \"" + args.mech +
                 "\" (SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN, "
                 "OAUTHBEARER, XOAUTH2)");
  if (!args.token_command.empty() && !args.mech.empty() && !sasl::parse_oauth_mechanism(args.mech))
    return usage("--token-command goes with --mech OAUTHBEARER or XOAUTH2, not " + args.mech);
  if (args.user.empty()) {
    if (args.password_stdin) return usage("--password-stdin needs --user");
    if (!args.mech.empty()) return usage("--mech needs --user");
    if (!args.token_command.empty()) return usage("--token-command needs --user");
  } else if (oauth) {
    if (args.password_stdin) return usage("--password-stdin does not go with OAuth: the token replaces the password");
    auth.emplace();
    auth->user = args.user;
    auth->mechanism = args.mech;
    auth->allow_cleartext = tls == client::TlsMode::none;
    auth->host = options.host;
    auth->port = static_cast<unsigned>(std::stoul(options.port));
    if (!args.token_command.empty()) {
      // The token comes through a pipe: it is on no command line.
      auto got = client::run_token_command(args.token_command);
      if (!got.token) {
        std::cerr << "postern send: " << got.error << " (--token-command " << util::printable(args.token_command, 400)
                  << ")\n";
        return Exit::no_perm;
      }
      auth->token = std::move(*got.token);
    } else if (const char* t = std::getenv("POSTERN_OAUTH_TOKEN"); t && *t) {
      auth->token = t;
    } else {
      return usage("--mech " + args.mech + " needs a token: give a command that prints one with --token-command, "
                   "or the token in POSTERN_OAUTH_TOKEN");
    }
  } else {
    auth.emplace();
    auth->user = args.user;
    auth->mechanism = args.mech;
    auth->allow_cleartext = tls == client::TlsMode::none;
    if (args.password_stdin) {
      if (args.body == "-" || args.message == "-") return usage("--password-stdin and reading the message from - both need standard input");
      std::getline(std::cin, auth->password);
      if (!auth->password.empty() && auth->password.back() == '\r') auth->password.pop_back();
    } else if (const char* p = std::getenv("POSTERN_PASSWORD")) {
      auth->password = p;
    } else {
      return usage("--user needs a password: give it on standard input with --password-stdin or in POSTERN_PASSWORD");
    }
  }

  // ---- the message
  client::Transaction t;
  t.reverse_path = from;
  if (!args.message.empty()) {
    std::string why;
    if (!read_file(args.message, t.message, why)) return data_error(why);
    if (auto e = client::message_error(t.message)) return data_error("bad message in " + args.message + ": " + *e);
  } else {
    client::Composition c;
    c.from = from;
    c.to = rcpts;
    c.subject = args.subject;
    if (!args.body.empty()) {
      std::string why;
      if (!read_file(args.body, c.body, why)) return data_error(why);
      if (auto e = client::body_error(c.body)) return data_error("bad body in " + args.body + ": " + *e);
    }
    t.message = client::compose(c);
  }

  if (args.verbose) options.transcript = print_transcript;

  // ---- attempts
  client::RetrySchedule schedule(client::RetryPolicy{std::chrono::seconds(5), std::chrono::minutes(5), 0.2,
                                                     std::chrono::seconds(1), std::chrono::seconds(1)});
  const auto deadline = Clock::now() + retry_for.value_or(std::chrono::seconds(0));
  std::vector<std::string> pending = rcpts;
  int worst = Exit::ok;
  while (true) {
    t.recipients = pending;
    Attempt a = attempt_once(options, auth ? &*auth : nullptr, t);
    if (a.authenticated && args.verbose) std::cerr << "** authenticated with " << a.mechanism << "\n";

    std::vector<std::string> retry;
    std::optional<smtp::Reply> temp_reply;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (a.delivery.delivered(i)) {
        std::cout << "sent to " << pending[i] << ": " << util::printable(a.delivery.outcome(i)->summary(), 2048) << "\n";
        continue;
      }
      auto o = a.delivery.outcome(i);
      if (o && o->permanent()) {
        print_reply_failure(pending[i] + ": ", *o);
        worst = Exit::unavailable;
      } else if (o && o->temporary()) {
        retry.push_back(pending[i]);
        if (!temp_reply) temp_reply = o;
      } else if (a.error) {
        retry.push_back(pending[i]);
      }
    }

    std::optional<Error> fatal;
    if (a.error) {
      const bool oauth_refused = a.error->kind == Error::Kind::auth && sasl::parse_oauth_mechanism(a.mechanism);
      if (a.error->reply) print_reply_failure("", *a.error->reply, oauth_refused ? a.error->message : std::string());
      std::cerr << "postern send: " << util::printable(a.error->message, 2048) << "\n";
      if (!a.error->temporary() || exit_code(*a.error) != Exit::temp_fail) fatal = a.error;
      if (!temp_reply && a.error->reply) temp_reply = a.error->reply;
    } else {
      for (auto& r : retry) {
        auto i = std::find(pending.begin(), pending.end(), r) - pending.begin();
        print_reply_failure(r + ": ", *a.delivery.outcome(static_cast<std::size_t>(i)));
      }
    }
    if (fatal) {
      int code = exit_code(*fatal);
      return worst == Exit::ok || code != Exit::temp_fail ? code : worst;
    }
    if (retry.empty()) return worst;

    auto now = Clock::now();
    if (!retry_for || now >= deadline) {
      if (retry_for) std::cerr << "postern send: giving up: --retry-for " << args.retry_for << " is spent\n";
      return worst == Exit::ok ? Exit::temp_fail : worst;
    }
    auto delay = schedule.next(temp_reply ? client::retry_hint(temp_reply->text()) : std::nullopt);
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - now);
    if (delay > left) delay = left;
    auto at = std::chrono::system_clock::now() + delay;
    std::cerr << "postern send: temporary failure; trying again in " << client::describe(delay) << " (at "
              << clock_time(at) << ", attempt " << schedule.failures() + 1 << ", "
              << client::describe(left) << " of --retry-for left)\n";
    std::this_thread::sleep_for(delay);
    pending = retry;
  }
}

}  // namespace

void add_send(CLI::App& app, int& result) {
  auto args = std::make_shared<SendArgs>();
  auto* sub = app.add_subcommand("send", "Submit one message over SMTP (STARTTLS, AUTH, retry on 4xx)");
  sub->add_option("--server", args->server, "HOST:PORT of the SMTP server ([ADDR]:PORT for IPv6)")->required();
  sub->add_option("--tls", args->tls, "auto (STARTTLS when offered), starttls, implicit or none")
      ->check(CLI::IsMember({"auto", "starttls", "implicit", "none"}));
  sub->add_flag("--insecure", args->insecure, "Do not verify the server's certificate");
  sub->add_option("--ca", args->ca, "Trust the CA certificates in FILE (PEM) instead of the system store");
  sub->add_option("--user", args->user, "Authenticate as this user");
  sub->add_flag("--password-stdin", args->password_stdin, "Read the password from the first line of standard input");
  sub->add_option("--mech", args->mech, "SASL mechanism (default: the strongest both sides support)");
  sub->add_option("--token-command", args->token_command,
                  "OAuth 2.0 (OAUTHBEARER, XOAUTH2): run CMD under /bin/sh -c; the token is its first line of output "
                  "(else POSTERN_OAUTH_TOKEN)");
  sub->add_option("--from", args->from, "Envelope sender and From: address")->required();
  sub->add_option("--to", args->to, "Recipient (repeat for several)")->required();
  sub->add_option("--subject", args->subject, "Subject of the composed message");
  sub->add_option("--body", args->body, "Body of the composed message: FILE, or - for standard input");
  sub->add_option("--message", args->message, "Send FILE as the complete RFC 5322 message");
  auto* retry = sub->add_option("--retry-for", args->retry_for,
                                "On a temporary failure, retry with backoff for DURATION (30s, 5m, 2h)");
  sub->add_flag("-v,--verbose", args->verbose, "Print the SMTP transcript (secrets redacted)");
  sub->callback([args, retry, &result] {
    args->retry_given = retry->count() > 0;
    result = run_send(*args);
  });
}

}  // namespace postern::cli
