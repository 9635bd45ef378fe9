// `postern serve`: listeners, sessions, signals, shutdown (SPEC §2, §3).
//
// Threads: one io_context per core, each run by one thread. A session
// lives on one context for its whole life (the acceptor hands each new
// socket to the next context in turn), so a session's dialogue and its
// deadline never run concurrently and need no strand or lock; the only
// shared state is the connection count and the session registry (mutexes)
// and the config/TLS snapshots (shared_ptr, swapped under a mutex on
// SIGHUP). Disk work that blocks (the spool's fsync) goes to a separate
// thread pool so a slow disk never stalls the I/O threads.
//
// Lifecycle: bind() opens every listener, loads TLS, then drops root
// privileges to `user`; run() starts the services it is given (delivery
// and the queue: cli/services.hpp composes them) and the threads, and
// blocks until SIGTERM/SIGINT has stopped everything.
// SIGTERM: stop accepting; idle sessions get 421 4.3.2 at once; open
// transactions may finish for up to 30 s, then get 421 too; exit 0.
// SIGHUP: reload config, certificate and the reload hooks.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "admission/users.hpp"
#include "config/config.hpp"
#include "server/connection_limits.hpp"
#include "server/hooks.hpp"
#include "util/metrics.hpp"

namespace postern::store {
class Spool;
}
namespace postern::dns {
class Resolver;
}

namespace postern::admission {
class AuthState;
class Checks;
}

namespace postern::server {

class Intake;
class Session;

// A start-up failure with the sysexits code to exit with.
struct StartError : std::runtime_error {
  int exit_code;
  StartError(int code, const std::string& what) : std::runtime_error(what), exit_code(code) {}
};

class Server {
 public:
  // `reload` re-reads the configuration for SIGHUP (throws config::Error).
  Server(config::Config config, std::function<config::Config()> reload);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener, prepares TLS and the spool, drops privileges.
  // Throws StartError.
  void bind();
  // Calls `start_services` (after bind() and the privilege drop, before the
  // first connection is accepted; it may throw StartError), then runs until
  // stopped; returns the exit code (0 after SIGTERM).
  int run(const std::function<void(Server&)>& start_services = {});
  // Asks for the SIGTERM behaviour from any thread.
  void stop();

  // Optional front-end hooks (hooks.hpp); set before bind(). Null: none.
  void set_admission(std::shared_ptr<Admission> admission) { admission_ = std::move(admission); }
  void set_observer(std::shared_ptr<SessionObserver> observer) { observer_ = std::move(observer); }
  Admission* admission() const { return admission_.get(); }
  // Set before connections arrive (a service may set it in start_services). Null: none.
  void set_recipient_verifier(std::shared_ptr<RecipientVerifier> verifier) { verifier_ = std::move(verifier); }
  RecipientVerifier* recipient_verifier() const { return verifier_.get(); }
  // Where sessions count connections, replies and AUTH results (GET
  // /metrics); null: nothing is counted. Set before connections arrive.
  void set_metrics(util::Metrics* metrics);
  util::Metrics* metrics() const { return metrics_; }
  SessionObserver* observer() const { return observer_.get(); }
  // The ports the listeners are bound to, in [[listener]] order (after bind();
  // port 0 in the config is the one the system chose).
  std::vector<std::uint16_t> bound_ports() const;

  // ---- For sessions ----
  std::shared_ptr<const config::Config> config() const;
  std::shared_ptr<asio::ssl::context> tls_context() const;
  admission::Checks& checks() { return *checks_; }
  admission::AuthState& auth_state() { return *auth_state_; }
  Intake& intake() { return *intake_; }
  // The one user-database handle of the process (admission, AUTH, local delivery).
  admission::Users& users() { return users_; }
  store::Spool& spool() { return *spool_; }
  // For work that uses the CPU or may block briefly (password hashes, user
  // lookups): a few threads, so a flood of AUTH cannot starve the I/O threads.
  asio::thread_pool::executor_type blocking() { return blocking_.get_executor(); }
  // For message bodies on their way to disk: threads that mostly wait (for
  // a spool file's fsync), so there are many.
  asio::thread_pool::executor_type disk() { return disk_.get_executor(); }
  // For messages held in memory on their way into local mailboxes: the
  // files are written here and the journal's group commit calls back when
  // they are durable, so no thread waits for a flush; as many threads as
  // I/O threads, each taking the next message without being woken for it.
  asio::thread_pool::executor_type delivery() { return delivery_.get_executor(); }
  // The c-ares resolver of the I/O context `executor` belongs to ([relay]
  // dns_servers); lookups through it never block the thread.
  dns::Resolver& resolver(const asio::any_io_executor& executor);

  // ---- For services started beside the listeners (see run()) ----
  // A service schedules its work on main_context() or blocking(), hooks
  // Intake::on_accepted to be woken per message, registers on_stop() to
  // finish within the shutdown grace period and on_reload() for SIGHUP.
  // The first I/O context (runs signals and acceptors; fine for timers).
  asio::io_context& main_context() { return *contexts_.front(); }
  // Called once on stop, before the I/O threads end (from an I/O thread).
  void on_stop(std::function<void()> hook);
  // On SIGTERM, sessions in a transaction get `grace` to finish it, then a
  // 421 and `forced` more before the process ends regardless (default 30 s
  // and 3 s; the testbed, whose clients are tests, takes much less).
  void set_shutdown_grace(std::chrono::milliseconds grace, std::chrono::milliseconds forced);
  // Called on SIGHUP with the new config snapshot, the one sessions see
  // from now on (from an I/O thread).
  void on_reload(std::function<void(std::shared_ptr<const config::Config>)> hook);
  // Keeps a service object alive until the server is destroyed (after the threads ended).
  void keep(std::shared_ptr<const void> object) { kept_.push_back(std::move(object)); }

 private:
  struct Bound;
  void start_session(asio::ip::tcp::socket socket, const config::Listener& listener);
  void session_ended(Session* session);
  void begin_shutdown();
  void finish_shutdown();
  void reload();
  asio::io_context& next_context();

  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<asio::ssl::context> tls_;
  mutable std::mutex snapshot_mutex_;
  std::function<config::Config()> reload_config_;

  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::atomic<std::size_t> next_context_{0};
  asio::thread_pool blocking_;
  asio::thread_pool disk_;
  asio::thread_pool delivery_;
  std::vector<std::unique_ptr<Bound>> listeners_;
  std::vector<std::unique_ptr<dns::Resolver>> resolvers_;  // one per context, same order
  asio::signal_set signals_;
  asio::steady_timer shutdown_timer_;
  std::chrono::milliseconds shutdown_grace_{30'000}, forced_close_grace_{3'000};

  std::unique_ptr<store::Spool> spool_;
  admission::Users users_;  // the one user store of checks and AUTH
  std::unique_ptr<admission::Checks> checks_;
  std::unique_ptr<Intake> intake_;
  std::vector<std::shared_ptr<const void>> kept_;
  std::shared_ptr<Admission> admission_;
  std::shared_ptr<RecipientVerifier> verifier_;
  std::shared_ptr<SessionObserver> observer_;
  util::Metrics* metrics_ = nullptr;
  ConnectionLimits limits_;
  std::unique_ptr<admission::AuthState> auth_state_;

  std::mutex sessions_mutex_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  bool stopping_ = false;  // under sessions_mutex_
  bool stopped_ = false;   // under sessions_mutex_

  std::vector<std::function<void()>> stop_hooks_;
  std::vector<std::function<void(std::shared_ptr<const config::Config>)>> reload_hooks_;
};

}  // namespace postern::server
