// `[http] listen` for `postern serve` (SPEC §4): GET /metrics in the
// Prometheus text format, on cpp-httplib, on a thread of its own. Anything
// else gets 404; only GET and HEAD are served. Only a Host that is an IP
// literal, localhost, the server's host name or in [http] allowed_hosts is
// answered (DNS rebinding: a web page must not read the counters).
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "util/metrics.hpp"

namespace postern::http {

class GuardedServer;

class MetricsEndpoint {
 public:
  // `allowed_hosts`: names beyond IP literals and localhost that Host may carry.
  MetricsEndpoint(const util::Metrics& metrics, const std::vector<std::string>& allowed_hosts);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // Binds host:port; throws std::runtime_error. Then serves until stop().
  void start(const std::string& host, int port);
  void stop();

 private:
  const util::Metrics& metrics_;
  std::unique_ptr<GuardedServer> http_;
  std::thread thread_;
};

}  // namespace postern::http
