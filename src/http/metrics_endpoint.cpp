#include "http/metrics_endpoint.hpp"

#include "http/guarded_server.hpp"

namespace postern::http {

MetricsEndpoint::MetricsEndpoint(const util::Metrics& metrics, const std::vector<std::string>& allowed_hosts)
    : metrics_(metrics),
      http_(std::make_unique<GuardedServer>(
          HostAllowlist(allowed_hosts), "allow it with [http] allowed_hosts",
          [](const httplib::Request&, httplib::Response& res, int status, const std::string& reason) {
            res.status = status;
            res.set_content(reason + "\n", "text/plain");
          },
          ServerLimits{.max_connections = 64})) {
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http_->set_payload_max_length(4096);  // only GET here: nobody needs a body read
  http_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) res.set_content("only GET /metrics here\n", "text/plain");
  });
}

MetricsEndpoint::~MetricsEndpoint() { stop(); }

void MetricsEndpoint::start(const std::string& host, int port) {
  if (!http_->bind_to_port(host, port)) throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port));
  http_->allow_host(host);
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void MetricsEndpoint::stop() {
  if (!thread_.joinable()) return;
  http_->shut_down();
  thread_.join();
}

}  // namespace postern::http
