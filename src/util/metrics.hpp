// Counters and histograms for `GET /metrics` (SPEC §4 [http]), rendered in
// the Prometheus text format (version 0.0.4). One Metrics object per
// process, owned by whoever composes it (cli/services.cpp) and passed to
// what counts; null where nothing counts, so a server without [http]
// pays nothing. Thread-safe: one mutex, held only to add a number.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace postern::util {

class Metrics {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Declares a metric (its HELP text) before first use; counting an
  // undeclared one declares it without help.
  void describe(const std::string& name, const std::string& type, const std::string& help);
  void add(const std::string& name, const Labels& labels = {}, double n = 1);
  // Histogram observation (seconds), buckets from 1 ms to 1 h.
  void observe(const std::string& name, double seconds, const Labels& labels = {});
  // A gauge read when rendered.
  void gauge(const std::string& name, const std::string& help, std::function<double()> read);

  std::string render() const;

 private:
  struct Family {
    std::string type = "counter";
    std::string help;
    std::map<std::string, double> values;  // rendered labels → value
    std::map<std::string, std::vector<double>> buckets;  // histograms: labels → counts per bucket, then sum, count
    std::function<double()> read;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

}  // namespace postern::util
