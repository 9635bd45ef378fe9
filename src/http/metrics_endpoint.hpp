// `[http] listen` for `postern serve` (SPEC §4): GET /metrics in the
// Prometheus text format, on cpp-httplib, on a thread of its own. Anything
// else gets 404; only GET and HEAD are served.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "util/metrics.hpp"

namespace httplib {
class Server;
}

namespace postern::http {

class MetricsEndpoint {
 public:
  explicit MetricsEndpoint(const util::Metrics& metrics);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // Binds host:port; throws std::runtime_error. Then serves until stop().
  void start(const std::string& host, int port);
  void stop();

 private:
  const util::Metrics& metrics_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace postern::http
