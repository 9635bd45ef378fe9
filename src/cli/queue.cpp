// `postern queue list | show ID | retry [ID] | delete ID` (SPEC §2): the
// outbound queue as the spool holds it. These commands read and change the
// data dir directly, so they work with or without a running server; `retry`
// leaves a request the running server's queue runner picks up within a
// second (data_dir/queue/retry/).
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <fmt/chrono.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "queue/dsn.hpp"
#include "queue/control.hpp"
#include "smtp/reply.hpp"
#include "store/spool.hpp"
#include "util/strings.hpp"

#if __has_include("explain/explain.hpp")
#include "explain/explain.hpp"
#define POSTERN_HAVE_EXPLAIN 1
#endif

namespace postern::cli {

namespace {

using Clock = std::chrono::system_clock;

std::string when(Clock::time_point t) { return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", fmt::gmtime(Clock::to_time_t(t))); }

std::string relative(Clock::time_point t, Clock::time_point now) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(t - now).count();
  if (s <= 0) return "due now";
  std::ostringstream o;
  o << "in ";
  if (s >= 3600) o << s / 3600 << " h " << (s % 3600) / 60 << " min";
  else if (s >= 60) o << s / 60 << " min " << s % 60 << " s";
  else o << s << " s";
  return o.str();
}

// Replies, addresses and HELO names come from clients and remote servers.
std::string printable(std::string_view s) { return util::printable(s, 2048); }

std::string meaning(std::string_view reply) {
#ifdef POSTERN_HAVE_EXPLAIN
  // A reply ("451 4.4.1 ..."), not our own words for a connection that failed ("127.0.0.1: ...").
  const bool is_reply = reply.size() >= 3 && std::isdigit(static_cast<unsigned char>(reply[0])) &&
                        std::isdigit(static_cast<unsigned char>(reply[1])) &&
                        std::isdigit(static_cast<unsigned char>(reply[2])) && (reply.size() == 3 || reply[3] == ' ');
  if (is_reply) {
    int code = std::atoi(std::string(reply.substr(0, 3)).c_str());
    std::string rest = reply.size() > 4 ? std::string(reply.substr(4)) : std::string();
    auto [enh, text] = smtp::split_enhanced(code, rest);
    try {
      return explain::short_meaning(code, enh, text);
    } catch (...) {
    }
  }
#else
  (void)reply;
#endif
  return {};
}

void print_recipients(const store::SpoolEntry& e, Clock::time_point now, bool detail) {
  for (const auto& r : e.recipients) {
    std::cout << "    <" << printable(r.address) << "> " << store::to_string(r.status);
    if (r.attempts) std::cout << ", " << r.attempts << (r.attempts == 1 ? " attempt" : " attempts");
    if (r.status == store::RecipientStatus::deferred)
      std::cout << ", next attempt " << when(r.next_attempt) << " (" << relative(r.next_attempt, now) << ")";
    std::cout << "\n";
    if (!r.last_reply.empty()) {
      std::cout << "        last reply: " << printable(r.last_reply) << "\n";
      if (detail) {
        std::string m = meaning(r.last_reply);
        if (!m.empty()) std::cout << "        meaning: " << m << "\n";
      }
    }
  }
}

void print_entry_line(const store::SpoolEntry& e) {
  std::cout << e.id << "  " << when(e.envelope.received_at) << "  " << e.message_size << " octets  <"
            << printable(e.envelope.reverse_path) << ">\n";
}

int list(const config::Config& cfg) {
  store::Spool spool(cfg.spool_dir());
  auto ids = spool.list();
  auto now = Clock::now();
  std::size_t shown = 0;
  for (const auto& id : ids) {
    auto e = spool.load(id);
    if (!e) continue;  // delivered meanwhile
    print_entry_line(*e);
    print_recipients(*e, now, false);
    ++shown;
  }
  if (shown == 0)
    std::cout << "Queue is empty.\n";
  else
    std::cout << "-- " << shown << (shown == 1 ? " message" : " messages") << " in the queue.\n";
  return Exit::ok;
}

int show(const config::Config& cfg, const std::string& id) {
  if (!store::Spool::valid_id(id)) {
    std::cerr << "postern: \"" << printable(id) << "\" is not a queue id (16 hex digits)\n";
    return Exit::usage;
  }
  store::Spool spool(cfg.spool_dir());
  auto e = spool.load(id);
  if (!e) {
    std::cerr << "postern: no message " << id << " in the queue\n";
    return Exit::data_error;
  }
  auto now = Clock::now();
  std::cout << "queue id:    " << e->id << "\n"
            << "arrived:     " << when(e->envelope.received_at) << "\n"
            << "sender:      <" << printable(e->envelope.reverse_path) << ">\n"
            << "size:        " << e->message_size << " octets\n"
            << "client:      " << printable(e->envelope.client_address) << " (" << printable(e->envelope.client_helo)
            << ")\n";
  if (!e->envelope.auth_identity.empty())
    std::cout << "auth:        " << printable(e->envelope.auth_identity) << "\n";
  std::cout << "recipients:\n";
  print_recipients(*e, now, true);
  if (auto m = spool.message(id)) {
    std::cout << "headers:\n";
    std::istringstream hs(queue::header_section(*m, 16 * 1024));
    for (std::string line; std::getline(hs, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::cout << "    " << printable(line) << "\n";
    }
  }
  return Exit::ok;
}

int retry(const config::Config& cfg, const std::string& id) {
  if (!id.empty()) {
    if (!store::Spool::valid_id(id)) {
      std::cerr << "postern: \"" << printable(id) << "\" is not a queue id (16 hex digits)\n";
      return Exit::usage;
    }
    store::Spool spool(cfg.spool_dir());
    if (!spool.load(id)) {
      std::cerr << "postern: no message " << id << " in the queue\n";
      return Exit::data_error;
    }
  }
  queue::request_retry(cfg, id);
  std::cout << "Retry requested for " << (id.empty() ? "every deferred message" : id)
            << "; a running server attempts delivery within a second.\n";
  return Exit::ok;
}

int remove(const config::Config& cfg, const std::string& id) {
  if (!store::Spool::valid_id(id)) {
    std::cerr << "postern: \"" << printable(id) << "\" is not a queue id (16 hex digits)\n";
    return Exit::usage;
  }
  store::Spool spool(cfg.spool_dir());
  if (!spool.load(id)) {
    std::cerr << "postern: no message " << id << " in the queue\n";
    return Exit::data_error;
  }
  spool.remove(id);
  std::cout << "Deleted " << id << " (no bounce is sent).\n";
  return Exit::ok;
}

}  // namespace

void add_queue(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("queue", "Inspect and manage the outbound queue");
  sub->require_subcommand(1);
  struct Args {
    StateOptions state;
    std::string id;
  };
  auto args = std::make_shared<Args>();

  auto guarded = [&result, args](auto fn) {
    return [&result, args, fn] {
      try {
        result = fn(args->state.load());
      } catch (const config::Error& e) {
        result = report(e);
      } catch (const std::exception& e) {
        std::cerr << "postern: " << e.what() << "\n";
        result = Exit::temp_fail;
      }
    };
  };

  auto* l = sub->add_subcommand("list", "List queued messages: id, sender, recipients with state, last reply, next attempt");
  args->state.add_to(l);
  l->callback(guarded([](const config::Config& c) {
    if (int rc = require_data_dir(c)) return rc;
    return list(c);
  }));

  auto* s = sub->add_subcommand("show", "Show one queued message: envelope, recipients, headers");
  args->state.add_to(s);
  s->add_option("ID", args->id, "Queue id")->required();
  s->callback(guarded([args](const config::Config& c) {
    if (int rc = require_data_dir(c)) return rc;
    return show(c, args->id);
  }));

  auto* r = sub->add_subcommand("retry", "Ask the running server to attempt delivery now (one message, or all)");
  args->state.add_to(r);
  r->add_option("ID", args->id, "Queue id (default: every deferred message)");
  r->callback(guarded([args](const config::Config& c) { return retry(c, args->id); }));

  auto* d = sub->add_subcommand("delete", "Remove a message from the queue without a bounce");
  args->state.add_to(d);
  d->add_option("ID", args->id, "Queue id")->required();
  d->callback(guarded([args](const config::Config& c) { return remove(c, args->id); }));
}

}  // namespace postern::cli
