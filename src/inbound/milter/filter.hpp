// One connection to one filter, for one SMTP session: connect (unix or
// inet), negotiate, then exchange packets under the filter's deadline.
// Asynchronous on the session's executor; every wait (connect, write,
// each reply) ends at `timeout`, which SMFIR_PROGRESS restarts, but all
// the replies to one event end at most at max_progress_factor × timeout
// from begin_stage(), whatever the progress reports. Any
// failure closes the connection and is reported as an error text; the
// chain (chain.hpp) applies the filter's on_error.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "inbound/milter/protocol.hpp"
#include "net/deadline.hpp"

namespace postern::milter {

inline constexpr int max_progress_factor = 10;

class Filter {
 public:
  Filter(asio::any_io_executor executor, config::Milter settings);
  ~Filter();
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;

  // Connects and negotiates; an error text when that fails.
  asio::awaitable<std::optional<std::string>> open();
  // Writes `bytes` (whole packets). An error text when it fails.
  asio::awaitable<std::optional<std::string>> send(const std::string& bytes);
  // Starts the bound on the replies to one event.
  void begin_stage();
  // The next reply other than SMFIR_PROGRESS, or an error text.
  asio::awaitable<std::variant<Response, std::string>> reply();
  void close();

  bool is_open() const { return open_; }
  const Negotiated& options() const { return options_; }
  const config::Milter& settings() const { return settings_; }
  const std::string& name() const { return settings_.address; }

 private:
  asio::awaitable<std::optional<std::string>> connect();
  asio::awaitable<std::variant<Packet, std::string>> next_packet();

  config::Milter settings_;
  asio::generic::stream_protocol::socket socket_;
  net::Deadline deadline_;
  PacketReader reader_;
  Negotiated options_;
  bool open_ = false;
  std::optional<net::Deadline::clock::time_point> stage_bound_;
};

}  // namespace postern::milter
