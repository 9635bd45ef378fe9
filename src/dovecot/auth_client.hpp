// One SASL exchange relayed to Dovecot's auth service (auth_protocol.hpp)
// over a unix or TCP socket: connect, handshake, AUTH, CONT..., OK/FAIL.
// Each exchange has its own connection, opened on AUTH and closed when the
// exchange ends, so a restarted Dovecot is simply reached again by the next
// AUTH (no stale shared connection to notice and reconnect).
//
// Every connect, write and read runs under `timeout`: a dead socket (no
// listener, connection refused), a silent one, a closed connection or a
// protocol error ends the exchange as `temporary` (454 4.7.0), never a hang.
//
// MechanismCache keeps the list of the last successful handshake for EHLO,
// shared by the sessions of one server (thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "dovecot/auth_protocol.hpp"

namespace postern::dovecot {

class MechanismCache {
 public:
  using Clock = std::chrono::steady_clock;
  // The mechanisms of the last handshake with `socket` (empty: never
  // reached, or the list is another socket's: a reload changed it).
  std::vector<MechanismInfo> mechanisms(const std::string& socket) const;
  void store(const std::string& socket, std::vector<MechanismInfo> mechanisms, Clock::time_point now);
  // True when the list of `socket` is older than `max_age` (or missing)
  // and nobody else is already refreshing it (claims the refresh until
  // `max_age` passes again).
  bool claim_refresh(const std::string& socket, Clock::time_point now, Clock::duration max_age);

 private:
  mutable std::mutex mutex_;
  std::string socket_;
  std::vector<MechanismInfo> mechanisms_;
  Clock::time_point fetched_{};
  Clock::time_point claimed_{};
  std::string claimed_socket_;
};

struct ClientOptions {
  SocketAddress address;
  std::chrono::milliseconds timeout{10000};
};

class AuthClient {
 public:
  enum class Status {
    more,       // `challenge` goes out on a 334; call respond()
    done,       // authenticated as user()
    failed,     // Dovecot said no: 535
    temporary,  // FAIL temp, unreachable, silent, broken: 454
  };
  struct Step {
    Status status = Status::temporary;
    std::string challenge;
  };

  AuthClient(asio::any_io_executor executor, ClientOptions options);
  ~AuthClient();
  AuthClient(const AuthClient&) = delete;
  AuthClient& operator=(const AuthClient&) = delete;

  // Connects and reads the handshake: Dovecot's mechanisms, or nullopt
  // (error() says why). Also feeds `cache` when given.
  asio::awaitable<std::optional<std::vector<MechanismInfo>>> handshake(MechanismCache* cache = nullptr,
                                                                     const std::string& socket = {});
  // Sends AUTH (after handshake()) and reads the first reply.
  asio::awaitable<Step> begin(AuthRequest request);
  // The client's decoded answer to the last challenge.
  asio::awaitable<Step> respond(std::string_view bytes);

  const std::string& user() const { return user_; }
  // The user Dovecot named in a FAIL, if any (logs only).
  const std::string& failed_user() const { return failed_user_; }
  // Why the last step was temporary or failed, for the log: "unreachable",
  // "timeout", "closed", "protocol: ...", "temporary", "nologin", "bad-credentials".
  const std::string& error() const { return error_; }

 private:
  struct Impl;
  asio::awaitable<std::optional<Event>> read_event();
  asio::awaitable<Step> reply();
  Step give_up(std::string why);

  std::unique_ptr<Impl> impl_;
  std::uint32_t id_ = 0;
  bool final_pending_ = false;  // OK came with data: it went out as a challenge, an empty answer ends it
  std::string user_, failed_user_, error_;
};

// The exchange's mechanism list for EHLO: Dovecot's, without the hidden
// ones and without those needing channel binding; plaintext ones only when
// `tls` (or when `clear_ok`).
std::vector<std::string> offered_mechanisms(const std::vector<MechanismInfo>& mechanisms, bool tls, bool clear_ok);

}  // namespace postern::dovecot
