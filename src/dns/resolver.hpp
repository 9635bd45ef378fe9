// DNS lookups for outbound mail, c-ares driven by an Asio executor: the
// sockets c-ares opens are watched with posix::stream_descriptor and its
// timeouts with a steady_timer, so lookups never block the event loop.
//
// resolve_mail_domain() implements RFC 5321 §5.1: MX records by preference
// (random order among equal preferences), the domain itself as an implicit
// MX when it has no MX records, and RFC 7505 null MX ("MX 0 .") as a
// permanent failure. Every failure says whether it is temporary (SERVFAIL,
// timeout, refused: try later) or permanent (NXDOMAIN, null MX, no address).
//
// Threads: a Resolver belongs to one executor; call it only from there
// (the runner's io_context). Destroying it completes pending lookups as
// temporary failures.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/tlsa.hpp"

namespace postern::dns {

enum class Outcome { ok, temporary, permanent };

// One host to connect to, with the addresses it resolved to.
struct Target {
  std::string host;             // MX host name, or the domain itself (implicit MX)
  std::uint16_t preference = 0;
  std::vector<asio::ip::address> addresses;  // IPv4 first, then IPv6
};

struct Destination {
  Outcome outcome = Outcome::ok;
  std::string enhanced;  // on failure: "4.4.3" (DNS trouble), "5.1.2" (no such domain), "5.1.10" (null MX), "5.4.4" (no address)
  std::string error;     // on failure: one line a person reads, e.g. "example.test: MX lookup: server failure"
  bool implicit_mx = false;  // no MX records: the domain itself was used
  std::vector<Target> targets;  // ok: in the order to try
};

struct Addresses {
  Outcome outcome = Outcome::ok;
  std::string error;
  std::vector<asio::ip::address> addresses;
};

class Resolver {
 public:
  // `servers`: "127.0.0.1", "127.0.0.1:5353", "[::1]:53"; empty = /etc/resolv.conf.
  // Throws std::invalid_argument for a malformed server, std::runtime_error
  // if c-ares cannot start.
  Resolver(asio::any_io_executor executor, const std::vector<std::string>& servers,
           std::chrono::milliseconds timeout = std::chrono::milliseconds(2000), int tries = 2);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Ends every lookup in progress (as a temporary failure) and makes later
  // ones fail at once; the object stays valid. For shutting down.
  void cancel();

  // Where mail for `domain` goes (RFC 5321 §5.1, RFC 7505). A domain
  // literal "[192.0.2.1]" / "[IPv6:2001:db8::1]" resolves to itself.
  asio::awaitable<Destination> resolve_mail_domain(std::string domain);

  // A and AAAA records of `host` (NXDOMAIN or no records: permanent).
  asio::awaitable<Addresses> resolve_host(std::string host);

  // Forward-confirmed reverse DNS (FCrDNS): a name of `address` (from
  // /etc/hosts or its PTR records) whose addresses include `address`, in
  // lower case without the final dot; nullopt when there is none, or the
  // lookups fail or time out.
  asio::awaitable<std::optional<std::string>> confirmed_name(asio::ip::address address);

  // Raw MX query, exposed for tests: (outcome, [(preference, host)]).
  struct MxRecord {
    std::uint16_t preference;
    std::string host;  // "" for the root (null MX)
  };
  struct MxAnswer {
    Outcome outcome = Outcome::ok;
    bool no_data = false;  // NOERROR with no MX records
    std::string error;
    std::vector<MxRecord> records;
  };
  asio::awaitable<MxAnswer> query_mx(std::string domain);

  // TXT records of `name`, each record's strings joined (RFC 7208 §3.3
  // and RFC 8461 §3.1 read them so). NXDOMAIN or no TXT: ok, no records.
  struct TxtAnswer {
    Outcome outcome = Outcome::ok;
    std::string error;
    std::vector<std::string> records;
  };
  asio::awaitable<TxtAnswer> query_txt(std::string name);

  // The A (or, `ipv6`, AAAA) records of `name` alone, as SPF and DNSBLs
  // read them: NXDOMAIN or no records is ok with none; no search of
  // /etc/hosts. `records` holds the addresses as text.
  asio::awaitable<TxtAnswer> query_addresses(std::string name, bool ipv6);

  // The PTR records of `address` (in-addr.arpa or ip6.arpa), the names
  // in lower case without the final dot. NXDOMAIN or none: ok, empty.
  asio::awaitable<TxtAnswer> query_ptr(asio::ip::address address);

  // TLSA records of `name` ("_25._tcp.mx.example.org", RFC 7672 §2.2).
  // NXDOMAIN or no TLSA: ok, no records. `authentic_data` is the AD bit:
  // true only when the resolver validated the answer with DNSSEC.
  struct TlsaAnswer {
    Outcome outcome = Outcome::ok;
    std::string error;
    bool authentic_data = false;
    std::vector<TlsaRecord> records;
  };
  asio::awaitable<TlsaAnswer> query_tlsa(std::string name);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Orders MX records by preference, shuffling equal preferences with `rng`
// (RFC 5321 §5.1: "randomize them to spread the load"). Exposed for tests.
std::vector<Resolver::MxRecord> order_mx(std::vector<Resolver::MxRecord> records, std::uint64_t seed);

}  // namespace postern::dns
