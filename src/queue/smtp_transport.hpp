// The SMTP transport of the queue: delivers recipients to other hosts.
//  * routes each recipient's domain (route.hpp): static route, smarthost
//    (AUTH through the SASL client, over TLS as smarthost_tls says, with a
//    password or an OAuth 2.0 token from a command), else
//    MX via dns::Resolver;
//  * delivers with client::Session: opportunistic STARTTLS, PIPELINING
//    when offered, several messages per connection to one destination, at
//    most `per_destination` connections to one destination at a time;
//  * a destination that cannot be reached is left alone until its backoff
//    step has passed: at most one attempt per destination per step; mail
//    for it meanwhile is deferred at once with that reason ("delivery
//    temporarily suspended", as Postfix says);
//  * never delivers to one of our own listeners, and bounces a message
//    past the hop limit (loop.hpp);
//  * obeys MTA-STS (RFC 8461, mta_sts/) for MX deliveries: under an
//    enforce policy only the MX hosts it names, over STARTTLS with a
//    certificate verified for that name, or the mail is deferred (4.7.5);
//  * signs mail from authenticated users (and `postern sendmail`) with
//    every DKIM key of its From: domain (dkim/), at each attempt, when
//    the user owns that domain (SmtpOptions::owns_domain; root's
//    `sendmail` any) and the message has one From: field.
// Each job's outcomes go to `Done`, which records them; the connection
// sends its next message meanwhile, with at most two of its messages
// unrecorded at a time, and ends only when all of them are recorded.
//
// Crash safety: an "in flight" marker (inflight.hpp, one per connection)
// spans the window between the remote 250 and the recorded state; a
// kill -9 there re-sends that message after restart (the unavoidable
// window), and the scheduler counts the markers it finds at start as
// possible duplicates.
//
// Threads: everything runs on the scheduler's io_context thread.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ssl/context.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dkim/key.hpp"
#include "queue/outcome.hpp"
#include "queue/route.hpp"
#include "queue/schedule.hpp"
#include "store/spool.hpp"

namespace postern::dns {
class Resolver;
}
namespace postern::mta_sts {
class Policies;
struct Policy;
}
namespace postern::client {
class Session;
struct Options;
}

namespace postern::queue {

class InflightMarker;

struct SmtpOptions {
  unsigned per_destination = 20;  // connections at once to one destination (Postfix: 20)
  unsigned max_connections = 64;  // outbound connections at once, in all
  unsigned max_messages_per_connection = 100;
  std::uint16_t mx_port = 25;     // see mx_port_from_environment()
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds data_timeout{600};
  std::chrono::milliseconds dns_timeout{3000};
  // Whether `login` (an AUTH identity, or the local login of `sendmail`)
  // owns From: `domain`, so that its mail may carry our DKIM signature
  // (SPEC §11; store/sender_ownership.hpp). Unset: only `sendmail` run by root is signed.
  std::function<bool(const config::Config& config, std::string_view login, std::string_view domain)> owns_domain;
  // A next hop for one message that overrides [relay] (the testbed's
  // release to a named server); nullopt or unset: routes, smarthost, MX.
  std::function<std::optional<Route>(std::string_view queue_id)> route_override;
};

// Some recipients of one spooled message, all for one destination.
struct Job {
  std::string id;
  std::vector<std::size_t> rcpts;  // indexes into the entry's recipients
};

class SmtpTransport {
 public:
  // Records a job's outcomes (one per rcpt, same order; none when the
  // message was deleted meanwhile); `entry` is the entry as loaded for the
  // attempt (its recipients' states only when a delay warning may be due:
  // the recorder reads the current ones), or null. Resumes when recorded.
  using Done = std::function<asio::awaitable<void>(const Job& job, const store::SpoolEntry* entry,
                                                   std::vector<Outcome> outcomes)>;

  SmtpTransport(asio::io_context& io, store::Spool& spool, Done done, SmtpOptions options);
  ~SmtpTransport();
  SmtpTransport(const SmtpTransport&) = delete;
  SmtpTransport& operator=(const SmtpTransport&) = delete;

  // Throws std::invalid_argument for a bad dns_servers entry.
  void start(const config::Config& config, const Schedule& schedule);
  // SIGHUP: routes, smarthost and schedule (dns_servers only on restart).
  void reload(const config::Config& config, const Schedule& schedule);
  // Queues recipients (index, address) of message `id`, one job per
  // destination, and starts connections as limits allow. Returns the
  // number of jobs queued; each ends with one call of `Done`.
  std::size_t enqueue(const std::string& id, const std::vector<std::pair<std::size_t, std::string>>& rcpts);
  // `postern queue retry`: every destination may be tried now.
  void lift_backoffs();
  // Lookups in progress end now; no new connection starts.
  void stop();

  std::uint64_t connections() const { return connections_made_; }

 private:
  struct Destination {
    Route route;
    std::deque<Job> jobs;
    unsigned active = 0;
    unsigned failures = 0;  // consecutive failures to reach it
    Clock::time_point not_before{};
    std::optional<Outcome> last_failure;  // why it could not be reached
  };
  struct Hop {
    std::string name;     // MX host or route host (Remote-MTA, SNI)
    std::string address;  // what to connect to
    std::uint16_t port = 25;
  };

  void dispatch();
  asio::awaitable<void> work_destination(std::string key);
  asio::awaitable<void> defer_all(Destination& d, Outcome outcome);
  asio::awaitable<std::vector<Hop>> hops_for(const Route& route, std::optional<Outcome>& failure);
  void drop_own_listeners(const Route& route, std::vector<Hop>& hops, std::optional<Outcome>& failure);
  client::Options session_options(const Hop& hop, const Route& route, bool sts_enforced);
  void apply_sts(const Route& route, const mta_sts::Policy& policy, std::vector<Hop>& hops,
                 std::optional<Outcome>& failure);
  asio::awaitable<std::optional<client::Error>> authenticate_smarthost(client::Session& s, const Hop& hop);
  asio::awaitable<std::optional<client::Error>> authenticate_smarthost_oauth(client::Session& s, const Hop& hop);
  struct Unrecorded;
  // Messages a connection may have sent and not yet seen recorded.
  static constexpr unsigned record_behind = 8;
  asio::awaitable<bool> deliver_one(client::Session& session, const Hop& hop, Job job,
                                    std::shared_ptr<InflightMarker> marker, std::shared_ptr<Unrecorded> unrecorded);
  asio::awaitable<void> record(Job job, store::SpoolEntry entry, std::vector<Outcome> outcomes,
                               std::shared_ptr<InflightMarker> marker, int slot, std::shared_ptr<Unrecorded> unrecorded);
  asio::awaitable<std::string> sign(const store::Envelope& envelope, const std::string& id, std::string message);

  asio::io_context& io_;
  store::Spool& spool_;
  Done done_;
  SmtpOptions options_;
  config::Config config_;
  Schedule schedule_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<mta_sts::Policies> sts_;  // uses resolver_: declared after it
  dkim::KeyCache dkim_keys_;                 // read on the io thread
  asio::thread_pool signers_{2};             // RSA signing costs a millisecond: off the io thread
  std::shared_ptr<asio::ssl::context> tls_;
  std::map<std::string, Destination> dests_;
  unsigned active_ = 0;
  std::atomic<std::uint64_t> connections_made_{0};
  bool stopping_ = false;
};

}  // namespace postern::queue
