#include "server/server.hpp"

#include "admission/auth_state.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/write.hpp>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "dns/resolver.hpp"
#include "log/log.hpp"
#include "admission/checks.hpp"
#include "server/intake.hpp"
#include "server/privileges.hpp"
#include "server/session.hpp"
#include "server/tls.hpp"
#include "smtp/replies.hpp"
#include "store/spool.hpp"

namespace postern::server {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

unsigned io_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

// Concurrency hint 1: each context is run by exactly one thread.
std::vector<std::unique_ptr<asio::io_context>> make_contexts(unsigned n) {
  std::vector<std::unique_ptr<asio::io_context>> out;
  for (unsigned i = 0; i < n; ++i) out.push_back(std::make_unique<asio::io_context>(1));
  return out;
}

// Exceptions escaping a coroutine are bugs: log them, never drop them.
auto log_exception(std::string what) {
  return [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::Event("internal_error").add("where", what).add("error", ex.what());
    }
  };
}

// The data dir and the files that hold secrets (password hashes, SCRAM
// keys, CRAM-MD5 secrets, the TLS key) are checked as OpenSSH checks its
// keys: a looser mode than intended gets a warning naming the fix.
void warn_if_exposed(const config::Config& cfg) {
  struct Want {
    std::filesystem::path path;
    mode_t forbidden;  // permission bits that must be clear
    const char* mode;
  };
  const std::string db = cfg.database_path().string();
  const Want wants[] = {
      {cfg.data_dir, 0027, "0700 (or 0750)"}, {db, 0077, "0600"},          {db + "-wal", 0077, "0600"},
      {db + "-shm", 0077, "0600"},            {cfg.tls.key, 0077, "0600"},
      {cfg.auth.oauth_client_secret_file, 0077, "0600"}, {cfg.relay.smarthost_password_file, 0077, "0600"},
  };
  for (const auto& w : wants) {
    if (w.path.empty()) continue;
    struct stat st{};
    if (::stat(w.path.c_str(), &st) != 0) continue;
    if ((st.st_mode & w.forbidden) == 0) continue;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    log::Event("insecure_permissions").add("path", w.path.string()).add("mode", mode).add("want", w.mode);
  }
}

}  // namespace

struct Server::Bound {
  config::Listener listener;
  asio::ip::tcp::acceptor acceptor;
};

Server::Server(config::Config config, std::function<config::Config()> reload)
    : config_(std::make_shared<const config::Config>(std::move(config))),
      reload_config_(std::move(reload)),
      contexts_(make_contexts(io_threads())),
      blocking_(std::max(4u, 2 * io_threads())),
      disk_(std::max(32u, 8 * io_threads())),
      delivery_(io_threads()),
      signals_(*contexts_.front()),
      shutdown_timer_(*contexts_.front()),
      limits_(config_->limits.max_connections, config_->limits.max_connections_per_ip) {
  auth_state_ = std::make_unique<admission::AuthState>(users_);
  for (auto& c : contexts_) work_.emplace_back(c->get_executor());
}

Server::~Server() {
  delivery_.join();
  disk_.join();
  blocking_.join();
  kept_.clear();
}

std::shared_ptr<const config::Config> Server::config() const {
  std::lock_guard lock(snapshot_mutex_);
  return config_;
}

std::shared_ptr<asio::ssl::context> Server::tls_context() const {
  std::lock_guard lock(snapshot_mutex_);
  return tls_;
}

void Server::on_stop(std::function<void()> hook) { stop_hooks_.push_back(std::move(hook)); }

void Server::set_shutdown_grace(std::chrono::milliseconds grace, std::chrono::milliseconds forced) {
  shutdown_grace_ = grace;
  forced_close_grace_ = forced;
}
void Server::on_reload(std::function<void(std::shared_ptr<const config::Config>)> hook) { reload_hooks_.push_back(std::move(hook)); }

dns::Resolver& Server::resolver(const asio::any_io_executor& executor) {
  auto& context = asio::query(executor, asio::execution::context);
  for (std::size_t i = 0; i < contexts_.size(); ++i)
    if (&context == contexts_[i].get()) return *resolvers_[i];
  throw std::logic_error("resolver: not one of the server's I/O contexts");
}

asio::io_context& Server::next_context() { return *contexts_[next_context_++ % contexts_.size()]; }

void Server::bind() {
  // Signals are caught (and queued until run() serves them) before any
  // port accepts: a SIGHUP or SIGTERM right after start never kills the
  // process with the default action.
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);

  const auto& cfg = *config_;
  try {
    store::create_directories_durably(cfg.data_dir, 0700, 0755);
  } catch (const store::IoError& e) {
    throw StartError(73, "cannot create data dir " + cfg.data_dir.string() + ": " + e.code().message());
  }
  warn_if_exposed(cfg);

  bool need_tls = false;
  for (auto& l : cfg.listeners) need_tls = need_tls || l.tls != config::TlsMode::none;
  if (need_tls) {
    try {
      tls_ = make_tls_context(cfg.tls.cert, cfg.tls.key, cfg.hostname, !cfg.tls.named);
    } catch (const std::exception& e) {
      throw StartError(78, e.what());
    }
  }

  for (auto& l : cfg.listeners) {
    asio::error_code ec;
    auto address = asio::ip::make_address(l.host, ec);
    if (ec) throw StartError(78, "listener " + l.address + ": not an IP address");
    asio::ip::tcp::endpoint endpoint(address, l.port);
    asio::ip::tcp::acceptor acceptor(main_context());
    acceptor.open(endpoint.protocol(), ec);
    if (!ec && address.is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw StartError(69, "cannot listen on " + l.address + ": " + ec.message());
    listeners_.push_back(std::make_unique<Bound>(Bound{l, std::move(acceptor)}));
  }

  try {
    if (!drop_privileges(cfg.user, cfg.data_dir))
      log::Event("warning").add("message", "running as root: set `user` to drop privileges");
  } catch (const std::exception& e) {
    throw StartError(77, std::string("cannot drop privileges: ") + e.what());
  }

  try {
    spool_ = std::make_unique<store::Spool>(cfg.spool_dir());
    const auto removed = spool_->recover();
    if (removed) log::Event("spool_recovered").add("removed", static_cast<long long>(removed));
    checks_ = std::make_unique<admission::Checks>(cfg, users_);
    intake_ = make_intake(*spool_);
  } catch (const std::exception& e) {
    throw StartError(73, e.what());
  }
  try {
    // Client name lookups (FCrDNS for greylist allow entries): short, so
    // a slow PTR zone delays only its own client's greeting.
    for (auto& c : contexts_)
      resolvers_.push_back(std::make_unique<dns::Resolver>(c->get_executor(), cfg.relay.dns_servers,
                                                           std::chrono::milliseconds(1500), 2));
  } catch (const std::invalid_argument& e) {
    throw StartError(78, std::string("relay.dns_servers: ") + e.what());
  } catch (const std::exception& e) {
    throw StartError(71, e.what());
  }
}

void Server::set_metrics(util::Metrics* metrics) {
  metrics_ = metrics;
  if (checks_) checks_->set_metrics(metrics);
}

std::vector<std::uint16_t> Server::bound_ports() const {
  std::vector<std::uint16_t> ports;
  for (const auto& b : listeners_) {
    asio::error_code ec;
    auto endpoint = b->acceptor.local_endpoint(ec);
    ports.push_back(ec ? 0 : endpoint.port());
  }
  return ports;
}

int Server::run(const std::function<void(Server&)>& start_services) {
  if (start_services) start_services(*this);

  for (auto& b : listeners_) {
    auto* bound = b.get();
    asio::co_spawn(
        main_context(),
        [this, bound]() -> asio::awaitable<void> {
          for (;;) {
            auto [ec, socket] = co_await bound->acceptor.async_accept(next_context(), use_tuple);
            if (ec) {
              if (ec == asio::error::operation_aborted || !bound->acceptor.is_open()) co_return;
              log::Event("accept_failed").add("listener", bound->listener.address).add("error", ec.message());
              // Out of descriptors: back off instead of spinning.
              asio::steady_timer pause(main_context(), std::chrono::milliseconds(100));
              co_await pause.async_wait(use_tuple);
              continue;
            }
            // Each reply goes out in one write; without this a reply that
            // follows other unacknowledged data (TLS 1.3's session tickets
            // after STARTTLS) would wait for the client's delayed ACK.
            asio::error_code ignored;
            socket.set_option(asio::ip::tcp::no_delay(true), ignored);
            start_session(std::move(socket), bound->listener);
          }
        },
        log_exception("accept " + bound->listener.address));
    // The address actually taken: with port 0 (the testbed) the system chose the port.
    asio::error_code ec;
    const auto local = bound->acceptor.local_endpoint(ec);
    const std::string host = local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string();
    log::Event("listen")
        .add("address", ec ? bound->listener.address : host + ":" + std::to_string(local.port()))
        .add("role", bound->listener.role == config::Role::mx ? "mx" : "submission")
        .add("tls", bound->listener.tls == config::TlsMode::none       ? "none"
                    : bound->listener.tls == config::TlsMode::starttls ? "starttls"
                                                                       : "implicit");
  }

  std::function<void(const asio::error_code&, int)> on_signal = [this, &on_signal](const asio::error_code& ec,
                                                                                    int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload();
    } else {
      log::Event("signal").add("signal", sig == SIGTERM ? "TERM" : "INT");
      begin_shutdown();
    }
    signals_.async_wait(on_signal);
  };
  signals_.async_wait(on_signal);

  // systemd Type=notify (a no-op without $NOTIFY_SOCKET): every port listens.
  ::sd_notify(0, "READY=1\nSTATUS=Accepting mail");

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts_.size(); ++i) threads.emplace_back([this, i] { contexts_[i]->run(); });
  contexts_.front()->run();
  for (auto& t : threads) t.join();
  log::Event("stopped");
  return 0;
}

void Server::stop() {
  asio::post(main_context(), [this] { begin_shutdown(); });
}

void Server::start_session(asio::ip::tcp::socket socket, const config::Listener& listener) {
  if (metrics_) metrics_->add("postern_connections_total", {{"listener", listener.address}});
  asio::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) return;  // already gone
  auto address = remote.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  auto ticket = limits_.acquire(client_key(address.to_string(), config()->greylist.ipv6_prefix));
  auto executor = socket.get_executor();
  if (!ticket) {
    log::Event("connection_refused").add("client", address.to_string()).add("reason", "too many connections");
    if (listener.tls == config::TlsMode::implicit) return;  // a plaintext 421 would only confuse a TLS client
    asio::co_spawn(
        executor,
        [s = std::move(socket)]() mutable -> asio::awaitable<void> {
          static const std::string bye = smtp::replies::too_many_connections().wire();
          co_await asio::async_write(s, asio::buffer(bye), use_tuple);
          asio::error_code ignored;
          s.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        },
        log_exception("refuse"));
    return;
  }

  auto session = std::make_shared<Session>(*this, std::move(socket), config(), listener, remote);
  session->hold(std::move(*ticket));
  {
    std::lock_guard lock(sessions_mutex_);
    sessions_.emplace(session.get(), session);
    if (stopping_) asio::post(executor, [session] { session->request_stop(false); });
  }
  asio::co_spawn(executor, session->run(), [this, session](std::exception_ptr e) {
    log_exception("session " + session->info().id)(e);
    session_ended(session.get());
  });
}

void Server::session_ended(Session* session) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(session);
  if (stopping_ && sessions_.empty()) asio::post(main_context(), [this] { finish_shutdown(); });
}

void Server::begin_shutdown() {
  std::lock_guard lock(sessions_mutex_);
  if (stopping_) return;
  stopping_ = true;
  ::sd_notify(0, "STOPPING=1");
  log::Event("shutdown").add("sessions", static_cast<long long>(sessions_.size()));
  for (auto& b : listeners_) {
    asio::error_code ec;
    b->acceptor.close(ec);
  }
  for (auto& [ptr, weak] : sessions_) {
    if (auto s = weak.lock()) asio::post(s->executor(), [s] { s->request_stop(false); });
  }
  if (sessions_.empty()) {
    asio::post(main_context(), [this] { finish_shutdown(); });
    return;
  }
  // After the grace period every remaining session gets 421 and is closed;
  // a little later the process ends whatever is left.
  shutdown_timer_.expires_after(shutdown_grace_);
  shutdown_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    {
      std::lock_guard lock(sessions_mutex_);
      log::Event("shutdown_forced").add("sessions", static_cast<long long>(sessions_.size()));
      for (auto& [ptr, weak] : sessions_) {
        if (auto s = weak.lock()) asio::post(s->executor(), [s] { s->request_stop(true); });
      }
    }
    shutdown_timer_.expires_after(forced_close_grace_);
    shutdown_timer_.async_wait([this](const asio::error_code& ec2) {
      if (!ec2) finish_shutdown();
    });
  });
}

void Server::finish_shutdown() {
  {
    std::lock_guard lock(sessions_mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  shutdown_timer_.cancel();
  for (auto& hook : stop_hooks_) hook();
  asio::error_code ec;
  signals_.cancel(ec);
  work_.clear();
  for (auto& c : contexts_) c->stop();
}

namespace {

// What SIGHUP cannot change in a running server: the names of the keys
// that differ, for the log (a restart applies them).
std::string needs_restart(const config::Config& was, const config::Config& now) {
  std::string keys;
  auto note = [&](bool differs, const char* key) {
    if (differs) keys += (keys.empty() ? "" : ",") + std::string(key);
  };
  auto listeners_differ = [&] {
    if (was.listeners.size() != now.listeners.size()) return true;
    for (std::size_t i = 0; i < was.listeners.size(); ++i) {
      const auto &a = was.listeners[i], &b = now.listeners[i];
      if (a.address != b.address || a.role != b.role || a.tls != b.tls) return true;
    }
    return false;
  };
  note(listeners_differ(), "listener");
  note(was.data_dir != now.data_dir, "data_dir");
  note(was.user != now.user, "user");
  note(was.greylist.store != now.greylist.store, "greylist.store");
  note(was.relay.dns_servers != now.relay.dns_servers, "relay.dns_servers");
  note(was.mailbox_sync != now.mailbox_sync, "mailbox_sync");
  return keys;
}

}  // namespace

void Server::reload() {
  // systemd's Type=notify reload protocol: RELOADING=1 with the time, READY=1 when done.
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  ::sd_notify(0, ("RELOADING=1\nMONOTONIC_USEC=" +
                  std::to_string(static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000))
                     .c_str());
  struct Ready {
    ~Ready() { ::sd_notify(0, "READY=1"); }
  } ready;
  try {
    auto fresh = std::make_shared<const config::Config>(reload_config_());
    std::shared_ptr<asio::ssl::context> tls;
    if (tls_) {
      // A certificate that cannot be loaded (a typo, a key only root may
      // read) keeps the one in use; the rest of the reload goes on.
      try {
        tls = make_tls_context(fresh->tls.cert, fresh->tls.key, fresh->hostname, !fresh->tls.named);
      } catch (const std::exception& e) {
        log::Event("reload_tls_kept").add("error", e.what()).add("hint", "the previous certificate stays in use");
      }
    }
    const auto restart = needs_restart(*config(), *fresh);
    // Delivery and the queue get the new snapshot before sessions do: a
    // recipient accepted under the new local domains is never routed by
    // the old ones.
    checks_->reload(*fresh);
    for (auto& hook : reload_hooks_) hook(fresh);
    {
      std::lock_guard lock(snapshot_mutex_);
      config_ = fresh;
      if (tls) tls_ = tls;
    }
    limits_.set_limits(fresh->limits.max_connections, fresh->limits.max_connections_per_ip);
    log::set_format(fresh->log_format == config::LogFormat::json ? log::Format::json : log::Format::text);
    log::Event("reload").add("config", fresh->source);
    // Listeners, the data dir and the stores stay as bound at start.
    if (!restart.empty()) log::Event("reload_needs_restart").add("keys", restart);
  } catch (const config::Error& e) {
    log::Event("reload_failed").add("file", e.file).add("key", e.key).add("error", e.what());
  } catch (const std::exception& e) {
    log::Event("reload_failed").add("error", e.what());
  }
}

}  // namespace postern::server
