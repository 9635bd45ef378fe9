#include "dns/resolver.hpp"

#include <ares.h>
#include <arpa/nameser.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <mutex>
#include <random>
#include <stdexcept>

#include <asio/experimental/as_tuple.hpp>

#include "util/strings.hpp"

namespace postern::dns {

namespace {

using asio::use_awaitable;
constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

void library_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) throw std::runtime_error(std::string("c-ares: ") + ares_strerror(rc));
  });
}

// SERVFAIL, timeouts, refused or unreachable servers: try again later.
// NXDOMAIN is a definite answer: the name does not exist.
Outcome classify(int status) {
  switch (status) {
    case ARES_SUCCESS:
      return Outcome::ok;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
      return Outcome::permanent;
    default:
      return Outcome::temporary;
  }
}

std::string describe_status(int status) {
  switch (status) {
    case ARES_ENOTFOUND: return "no such domain (NXDOMAIN)";
    case ARES_ENODATA: return "no records";
    case ARES_ESERVFAIL: return "server failure (SERVFAIL)";
    case ARES_EREFUSED: return "query refused";
    case ARES_ETIMEOUT: return "timed out";
    case ARES_ECONNREFUSED: return "DNS server unreachable";
    case ARES_EDESTRUCTION: return "resolver shut down";
    default: return ares_strerror(status);
  }
}

}  // namespace

// One query in flight: c-ares fills it in its callback and cancels the
// timer the awaiting coroutine waits on.
struct Pending {
  explicit Pending(asio::any_io_executor ex) : done(ex) { done.expires_at(asio::steady_timer::time_point::max()); }
  asio::steady_timer done;
  bool finished = false;
  int status = ARES_SUCCESS;
  std::string answer;                        // raw DNS answer (ares_query)
  std::vector<std::string> names;            // host lookups: canonical name and aliases
  std::vector<asio::ip::address> addresses;  // host lookups: the addresses
};

struct Resolver::Impl : std::enable_shared_from_this<Resolver::Impl> {
  struct Watch {
    explicit Watch(asio::any_io_executor ex, int fd) : stream(ex, fd) {}
    asio::posix::stream_descriptor stream;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool closed = false;
  };

  explicit Impl(asio::any_io_executor ex) : executor(ex), timer(ex) {}

  asio::any_io_executor executor;
  ares_channel channel = nullptr;
  asio::steady_timer timer;
  std::map<ares_socket_t, std::shared_ptr<Watch>> watches;
  bool destroyed = false;

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->sock_state(fd, readable != 0, writable != 0);
  }

  void sock_state(ares_socket_t fd, bool readable, bool writable) {
    auto it = watches.find(fd);
    if (!readable && !writable) {
      if (it == watches.end()) return;
      // c-ares closes the socket itself: give the descriptor back first.
      it->second->closed = true;
      asio::error_code ignored;
      it->second->stream.cancel(ignored);
      it->second->stream.release();
      watches.erase(it);
      return;
    }
    if (it == watches.end()) it = watches.emplace(fd, std::make_shared<Watch>(executor, fd)).first;
    it->second->want_read = readable;
    it->second->want_write = writable;
    arm(it->second, fd);
  }

  void arm(const std::shared_ptr<Watch>& w, ares_socket_t fd) {
    if (w->closed || destroyed) return;
    auto self = shared_from_this();
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->stream.async_wait(asio::posix::stream_descriptor::wait_read, [self, w, fd](asio::error_code ec) {
        w->reading = false;
        if (ec || w->closed || self->destroyed) return;
        ares_process_fd(self->channel, fd, ARES_SOCKET_BAD);
        self->arm(w, fd);
        self->reschedule();
      });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->stream.async_wait(asio::posix::stream_descriptor::wait_write, [self, w, fd](asio::error_code ec) {
        w->writing = false;
        if (ec || w->closed || self->destroyed) return;
        ares_process_fd(self->channel, ARES_SOCKET_BAD, fd);
        self->arm(w, fd);
        self->reschedule();
      });
    }
  }

  // Arms the timer for c-ares's next timeout (retransmission or give-up).
  void reschedule() {
    if (destroyed) return;
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) == nullptr) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec) +
                        std::chrono::milliseconds(1));
    auto self = shared_from_this();
    timer.async_wait([self](asio::error_code ec) {
      if (ec || self->destroyed) return;
      ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      self->reschedule();
    });
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* holder = static_cast<std::shared_ptr<Pending>*>(arg);
    auto p = std::move(*holder);
    delete holder;
    p->finished = true;
    p->status = status;
    if (status == ARES_SUCCESS && abuf && alen > 0) p->answer.assign(reinterpret_cast<char*>(abuf), alen);
    p->done.cancel();
  }

  // Host lookups (ares_gethostbyaddr/-byname) read /etc/hosts before DNS,
  // as the system resolver does; the callback may run before they return.
  static void on_host(void* arg, int status, int /*timeouts*/, hostent* he) {
    auto* holder = static_cast<std::shared_ptr<Pending>*>(arg);
    auto p = std::move(*holder);
    delete holder;
    p->finished = true;
    p->status = status;
    if (status == ARES_SUCCESS && he) {
      if (he->h_name) p->names.emplace_back(he->h_name);
      for (char** a = he->h_aliases; a && *a && p->names.size() < 8; ++a) p->names.emplace_back(*a);
      for (char** a = he->h_addr_list; a && *a; ++a) {
        if (he->h_addrtype == AF_INET) {
          asio::ip::address_v4::bytes_type b;
          std::memcpy(b.data(), *a, 4);
          p->addresses.emplace_back(asio::ip::address_v4(b));
        } else if (he->h_addrtype == AF_INET6) {
          asio::ip::address_v6::bytes_type b;
          std::memcpy(b.data(), *a, 16);
          p->addresses.emplace_back(asio::ip::address_v6(b));
        }
      }
    }
    p->done.cancel();
  }

  std::shared_ptr<Pending> start_reverse(const asio::ip::address& address) {
    auto p = std::make_shared<Pending>(executor);
    if (destroyed) {
      p->finished = true;
      p->status = ARES_EDESTRUCTION;
      return p;
    }
    if (address.is_v4()) {
      auto b = address.to_v4().to_bytes();
      ares_gethostbyaddr(channel, b.data(), static_cast<int>(b.size()), AF_INET, &Impl::on_host,
                         new std::shared_ptr<Pending>(p));
    } else {
      auto b = address.to_v6().to_bytes();
      ares_gethostbyaddr(channel, b.data(), static_cast<int>(b.size()), AF_INET6, &Impl::on_host,
                         new std::shared_ptr<Pending>(p));
    }
    reschedule();
    return p;
  }

  std::shared_ptr<Pending> start_forward(const std::string& name, int family) {
    auto p = std::make_shared<Pending>(executor);
    if (destroyed) {
      p->finished = true;
      p->status = ARES_EDESTRUCTION;
      return p;
    }
    ares_gethostbyname(channel, name.c_str(), family, &Impl::on_host, new std::shared_ptr<Pending>(p));
    reschedule();
    return p;
  }

  std::shared_ptr<Pending> start(const std::string& name, int type) {
    auto p = std::make_shared<Pending>(executor);
    if (destroyed) {
      p->finished = true;
      p->status = ARES_EDESTRUCTION;
      return p;
    }
    ares_query(channel, name.c_str(), ns_c_in, type, &Impl::on_answer, new std::shared_ptr<Pending>(p));
    reschedule();
    return p;
  }

  void destroy() {
    if (destroyed) return;
    // ares_destroy completes every query with ARES_EDESTRUCTION and closes
    // its sockets (telling sock_state, which releases the descriptors).
    ares_destroy(channel);
    destroyed = true;
    for (auto& [fd, w] : watches) {
      w->closed = true;
      asio::error_code ignored;
      w->stream.cancel(ignored);
      w->stream.release();
    }
    watches.clear();
    timer.cancel();
  }
};

namespace {

asio::awaitable<void> wait(std::shared_ptr<Pending> p) {
  if (!p->finished) co_await p->done.async_wait(tuple_awaitable);
}

}  // namespace

Resolver::Resolver(asio::any_io_executor executor, const std::vector<std::string>& servers,
                   std::chrono::milliseconds timeout, int tries) {
  library_init();
  impl_ = std::make_shared<Impl>(executor);
  ares_options options{};
  options.sock_state_cb = &Impl::on_sock_state;
  options.sock_state_cb_data = impl_.get();
  options.timeout = static_cast<int>(timeout.count());
  options.tries = tries;
  options.ndomains = 0;  // no search domains: mail domains are absolute
  options.domains = nullptr;
  options.flags = ARES_FLAG_NOSEARCH;
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS | ARES_OPT_FLAGS;
  int rc = ares_init_options(&impl_->channel, &options, mask);
  if (rc != ARES_SUCCESS) throw std::runtime_error(std::string("c-ares: ") + ares_strerror(rc));
  if (!servers.empty()) {
    std::string csv;
    for (const auto& s : servers) {
      if (s.empty() || s.find(',') != std::string::npos) {
        ares_destroy(impl_->channel);
        impl_->destroyed = true;
        throw std::invalid_argument("bad DNS server \"" + s + "\"");
      }
      if (!csv.empty()) csv += ',';
      csv += s;
    }
    rc = ares_set_servers_ports_csv(impl_->channel, csv.c_str());
    if (rc != ARES_SUCCESS) {
      ares_destroy(impl_->channel);
      impl_->destroyed = true;
      throw std::invalid_argument("bad DNS server list \"" + csv + "\": " + ares_strerror(rc));
    }
  }
}

Resolver::~Resolver() { impl_->destroy(); }

void Resolver::cancel() { impl_->destroy(); }

std::vector<Resolver::MxRecord> order_mx(std::vector<Resolver::MxRecord> records, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::shuffle(records.begin(), records.end(), rng);
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.preference < b.preference; });
  return records;
}

asio::awaitable<Resolver::MxAnswer> Resolver::query_mx(std::string domain) {
  auto impl = impl_;
  auto p = impl->start(domain, ns_t_mx);
  co_await wait(p);
  MxAnswer out;
  if (p->status != ARES_SUCCESS) {
    out.outcome = classify(p->status);
    // NOERROR without MX records: RFC 5321 §5.1 implicit MX.
    if (p->status == ARES_ENODATA) {
      out.outcome = Outcome::ok;
      out.no_data = true;
    }
    out.error = domain + ": MX lookup: " + describe_status(p->status);
    co_return out;
  }
  ares_mx_reply* mx = nullptr;
  int rc = ares_parse_mx_reply(reinterpret_cast<const unsigned char*>(p->answer.data()),
                               static_cast<int>(p->answer.size()), &mx);
  if (rc == ARES_ENODATA) {
    out.no_data = true;
    co_return out;
  }
  if (rc != ARES_SUCCESS) {
    out.outcome = Outcome::temporary;
    out.error = domain + ": MX lookup: malformed answer (" + ares_strerror(rc) + ")";
    co_return out;
  }
  for (auto* r = mx; r; r = r->next) {
    std::string host = r->host ? r->host : "";
    if (host == ".") host.clear();
    while (!host.empty() && host.back() == '.') host.pop_back();
    out.records.push_back({r->priority, util::to_lower(host)});
  }
  ares_free_data(mx);
  if (out.records.empty()) out.no_data = true;
  co_return out;
}

asio::awaitable<Resolver::TxtAnswer> Resolver::query_txt(std::string name) {
  auto impl = impl_;
  auto p = impl->start(name, ns_t_txt);
  co_await wait(p);
  TxtAnswer out;
  if (p->status == ARES_ENOTFOUND || p->status == ARES_ENODATA) co_return out;
  if (p->status != ARES_SUCCESS) {
    out.outcome = Outcome::temporary;
    out.error = name + ": TXT lookup: " + describe_status(p->status);
    co_return out;
  }
  ares_txt_ext* txt = nullptr;
  const int rc = ares_parse_txt_reply_ext(reinterpret_cast<const unsigned char*>(p->answer.data()),
                                          static_cast<int>(p->answer.size()), &txt);
  if (rc == ARES_ENODATA) co_return out;
  if (rc != ARES_SUCCESS) {
    out.outcome = Outcome::temporary;
    out.error = name + ": TXT lookup: malformed answer";
    co_return out;
  }
  for (auto* t = txt; t; t = t->next) {
    std::string part(reinterpret_cast<const char*>(t->txt), t->length);
    if (t->record_start || out.records.empty()) out.records.push_back(std::move(part));
    else out.records.back() += part;
  }
  ares_free_data(txt);
  co_return out;
}

asio::awaitable<Resolver::TxtAnswer> Resolver::query_addresses(std::string name, bool ipv6) {
  auto impl = impl_;
  auto p = impl->start(name, ipv6 ? ns_t_aaaa : ns_t_a);
  co_await wait(p);
  TxtAnswer out;
  if (p->status == ARES_ENOTFOUND || p->status == ARES_ENODATA) co_return out;
  if (p->status != ARES_SUCCESS) {
    out.outcome = Outcome::temporary;
    out.error = name + ": address lookup: " + describe_status(p->status);
    co_return out;
  }
  hostent* he = nullptr;
  const auto* answer = reinterpret_cast<const unsigned char*>(p->answer.data());
  const int length = static_cast<int>(p->answer.size());
  int n = 64;
  int rc;
  if (ipv6) {
    ares_addr6ttl ttls[64];
    rc = ares_parse_aaaa_reply(answer, length, &he, ttls, &n);
    for (int i = 0; rc == ARES_SUCCESS && i < n; ++i) {
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &ttls[i].ip6addr, 16);
      out.records.push_back(asio::ip::address_v6(b).to_string());
    }
  } else {
    ares_addrttl ttls[64];
    rc = ares_parse_a_reply(answer, length, &he, ttls, &n);
    for (int i = 0; rc == ARES_SUCCESS && i < n; ++i) {
      asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &ttls[i].ipaddr, 4);
      out.records.push_back(asio::ip::address_v4(b).to_string());
    }
  }
  if (he) ares_free_hostent(he);
  if (rc != ARES_SUCCESS && rc != ARES_ENODATA) {
    out.outcome = Outcome::temporary;
    out.error = name + ": address lookup: malformed answer";
  }
  co_return out;
}

asio::awaitable<Resolver::TxtAnswer> Resolver::query_ptr(asio::ip::address address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  static constexpr char hex[] = "0123456789abcdef";
  std::string name;
  if (address.is_v4()) {
    auto b = address.to_v4().to_bytes();
    for (int i = 3; i >= 0; --i) name += std::to_string(b[i]) + ".";
    name += "in-addr.arpa";
  } else {
    auto b = address.to_v6().to_bytes();
    for (int i = 15; i >= 0; --i) {
      name += hex[b[i] & 0xf];
      name += '.';
      name += hex[b[i] >> 4];
      name += '.';
    }
    name += "ip6.arpa";
  }
  auto impl = impl_;
  auto p = impl->start(name, ns_t_ptr);
  co_await wait(p);
  TxtAnswer out;
  if (p->status == ARES_ENOTFOUND || p->status == ARES_ENODATA) co_return out;
  if (p->status != ARES_SUCCESS) {
    out.outcome = Outcome::temporary;
    out.error = name + ": PTR lookup: " + describe_status(p->status);
    co_return out;
  }
  hostent* he = nullptr;
  const int rc = ares_parse_ptr_reply(reinterpret_cast<const unsigned char*>(p->answer.data()),
                                      static_cast<int>(p->answer.size()), nullptr, 0, AF_INET, &he);
  if (rc == ARES_SUCCESS && he) {
    auto add = [&](const char* n) {
      std::string s = n ? n : "";
      while (!s.empty() && s.back() == '.') s.pop_back();
      if (!s.empty()) out.records.push_back(util::to_lower(s));
    };
    add(he->h_name);
    for (char** a = he->h_aliases; a && *a && out.records.size() < 32; ++a) add(*a);
  } else if (rc != ARES_ENODATA) {
    out.outcome = Outcome::temporary;
    out.error = name + ": PTR lookup: malformed answer";
  }
  if (he) ares_free_hostent(he);
  co_return out;
}

asio::awaitable<Resolver::TlsaAnswer> Resolver::query_tlsa(std::string name) {
  auto impl = impl_;
  auto p = impl->start(name, 52);
  co_await wait(p);
  TlsaAnswer out;
  if (p->status == ARES_ENOTFOUND || p->status == ARES_ENODATA) co_return out;
  if (p->status != ARES_SUCCESS) {
    out.outcome = Outcome::temporary;
    out.error = name + ": TLSA lookup: " + describe_status(p->status);
    co_return out;
  }
  auto parsed = parse_tlsa_answer(p->answer);
  if (!parsed) {
    out.outcome = Outcome::temporary;
    out.error = name + ": TLSA lookup: malformed answer";
    co_return out;
  }
  out.authentic_data = parsed->authentic_data;
  out.records = std::move(parsed->records);
  co_return out;
}

asio::awaitable<std::optional<std::string>> Resolver::confirmed_name(asio::ip::address address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  auto impl = impl_;
  auto reverse = impl->start_reverse(address);
  co_await wait(reverse);
  if (reverse->status != ARES_SUCCESS) co_return std::nullopt;
  for (auto name : reverse->names) {
    while (!name.empty() && name.back() == '.') name.pop_back();
    if (name.empty()) continue;
    auto forward = impl->start_forward(name, address.is_v4() ? AF_INET : AF_INET6);
    co_await wait(forward);
    for (const auto& a : forward->addresses)
      if (a == address) co_return util::to_lower(name);
  }
  co_return std::nullopt;
}

asio::awaitable<Addresses> Resolver::resolve_host(std::string host) {
  // RFC 6761 §6.3: "localhost" and its subdomains are the loopback, never asked of DNS.
  std::string name = util::to_lower(host);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name == "localhost" || (name.size() > 10 && name.ends_with(".localhost"))) {
    Addresses loopback;
    loopback.addresses = {asio::ip::address_v4::loopback(), asio::ip::address_v6::loopback()};
    co_return loopback;
  }
  auto impl = impl_;
  // Both queries go out together.
  auto a = impl->start(host, ns_t_a);
  auto aaaa = impl->start(host, ns_t_aaaa);
  co_await wait(a);
  co_await wait(aaaa);
  Addresses out;
  if (a->status == ARES_SUCCESS) {
    hostent* he = nullptr;
    ares_addrttl ttls[64];
    int n = 64;
    if (ares_parse_a_reply(reinterpret_cast<const unsigned char*>(a->answer.data()), static_cast<int>(a->answer.size()),
                           &he, ttls, &n) == ARES_SUCCESS) {
      for (int i = 0; i < n; ++i) {
        asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), &ttls[i].ipaddr, 4);
        out.addresses.emplace_back(asio::ip::address_v4(b));
      }
    }
    if (he) ares_free_hostent(he);
  }
  if (aaaa->status == ARES_SUCCESS) {
    hostent* he = nullptr;
    ares_addr6ttl ttls[64];
    int n = 64;
    if (ares_parse_aaaa_reply(reinterpret_cast<const unsigned char*>(aaaa->answer.data()),
                              static_cast<int>(aaaa->answer.size()), &he, ttls, &n) == ARES_SUCCESS) {
      for (int i = 0; i < n; ++i) {
        asio::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), &ttls[i].ip6addr, 16);
        out.addresses.emplace_back(asio::ip::address_v6(b));
      }
    }
    if (he) ares_free_hostent(he);
  }
  if (!out.addresses.empty()) co_return out;
  // No address: temporary if either lookup failed for a temporary reason.
  Outcome oa = classify(a->status), o6 = classify(aaaa->status);
  if (a->status == ARES_SUCCESS) oa = Outcome::permanent;  // answered, but nothing usable
  if (aaaa->status == ARES_SUCCESS) o6 = Outcome::permanent;
  if (oa == Outcome::temporary || o6 == Outcome::temporary) {
    out.outcome = Outcome::temporary;
    int s = classify(a->status) == Outcome::temporary ? a->status : aaaa->status;
    out.error = host + ": address lookup: " + describe_status(s);
  } else {
    out.outcome = Outcome::permanent;
    out.error = host + ": address lookup: " +
                describe_status(a->status == ARES_ENOTFOUND || aaaa->status == ARES_ENOTFOUND ? ARES_ENOTFOUND
                                                                                              : ARES_ENODATA);
  }
  co_return out;
}

namespace {

// "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3).
std::optional<asio::ip::address> domain_literal(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string_view inner = domain.substr(1, domain.size() - 2);
  asio::error_code ec;
  if (inner.size() > 5 && util::iequals(inner.substr(0, 5), "IPv6:")) {
    auto a = asio::ip::make_address_v6(std::string(inner.substr(5)), ec);
    if (ec) return std::nullopt;
    return asio::ip::address(a);
  }
  auto a = asio::ip::make_address_v4(std::string(inner), ec);
  if (ec) return std::nullopt;
  return asio::ip::address(a);
}

}  // namespace

asio::awaitable<Destination> Resolver::resolve_mail_domain(std::string domain) {
  Destination out;
  if (auto literal = domain_literal(domain)) {
    out.targets.push_back({domain, 0, {*literal}});
    co_return out;
  }
  if (domain.empty() || domain.front() == '[') {
    out.outcome = Outcome::permanent;
    out.enhanced = "5.1.2";
    out.error = "\"" + domain + "\": not a domain name";
    co_return out;
  }
  domain = util::to_lower(domain);
  MxAnswer mx = co_await query_mx(domain);
  if (mx.outcome != Outcome::ok) {
    out.outcome = mx.outcome;
    out.enhanced = mx.outcome == Outcome::temporary ? "4.4.3" : "5.1.2";
    out.error = mx.error;
    co_return out;
  }
  std::vector<MxRecord> records;
  if (mx.no_data) {
    // RFC 5321 §5.1: no MX records → the domain is its own implicit MX.
    out.implicit_mx = true;
    records.push_back({0, domain});
  } else {
    bool null_mx = false;
    for (auto& r : mx.records) {
      if (r.host.empty())
        null_mx = true;
      else
        records.push_back(r);
    }
    // RFC 7505 §3: a null MX says the domain accepts no mail. A domain that
    // (wrongly) publishes other MX records beside it gets those tried.
    if (records.empty() && null_mx) {
      out.outcome = Outcome::permanent;
      out.enhanced = "5.1.10";
      out.error = domain + ": domain accepts no mail (null MX, RFC 7505)";
      co_return out;
    }
    std::random_device rd;
    records = order_mx(std::move(records), (std::uint64_t(rd()) << 32) | rd());
  }
  bool temporary = false;
  std::string last_error;
  for (auto& r : records) {
    Addresses a = co_await resolve_host(r.host);
    if (a.outcome == Outcome::ok) {
      out.targets.push_back({r.host, r.preference, std::move(a.addresses)});
    } else {
      temporary = temporary || a.outcome == Outcome::temporary;
      last_error = a.error;
    }
  }
  if (out.targets.empty()) {
    out.outcome = temporary ? Outcome::temporary : Outcome::permanent;
    out.enhanced = temporary ? "4.4.3" : (out.implicit_mx ? "5.1.2" : "5.4.4");
    out.error = last_error.empty() ? domain + ": no mail host" : last_error;
  }
  co_return out;
}

}  // namespace postern::dns
