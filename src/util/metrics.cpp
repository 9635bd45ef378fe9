#include "util/metrics.hpp"

#include <cmath>
#include <sstream>

namespace postern::util {
namespace {

constexpr double bucket_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 3600};
constexpr std::size_t n_buckets = sizeof(bucket_bounds) / sizeof(bucket_bounds[0]);

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string render_labels(const Metrics::Labels& labels, const std::string& extra = {}) {
  if (labels.empty() && extra.empty()) return {};
  std::string out = "{";
  for (const auto& [k, v] : labels) out += (out.size() > 1 ? "," : "") + k + "=\"" + escape(v) + "\"";
  if (!extra.empty()) out += (out.size() > 1 ? "," : "") + extra;
  return out + "}";
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(12);
  s << v;
  return s.str();
}

}  // namespace

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  f.type = type;
  f.help = help;
}

void Metrics::add(const std::string& name, const Labels& labels, double n) {
  const auto key = render_labels(labels);
  std::lock_guard lock(mutex_);
  families_[name].values[key] += n;
}

void Metrics::observe(const std::string& name, double seconds, const Labels& labels) {
  // Keyed by the label pairs without braces, so "le" can be added at render.
  std::string key;
  for (const auto& [k, v] : labels) key += (key.empty() ? "" : ",") + k + "=\"" + escape(v) + "\"";
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  f.type = "histogram";
  auto& b = f.buckets[key];
  if (b.empty()) b.assign(n_buckets + 2, 0);
  for (std::size_t i = 0; i < n_buckets; ++i)
    if (seconds <= bucket_bounds[i]) b[i] += 1;
  b[n_buckets] += seconds;
  b[n_buckets + 1] += 1;
}

void Metrics::gauge(const std::string& name, const std::string& help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  f.type = "gauge";
  f.help = help;
  f.read = std::move(read);
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    if (f.read) out += name + " " + number(f.read()) + "\n";
    for (const auto& [labels, v] : f.values) out += name + labels + " " + number(v) + "\n";
    for (const auto& [labels, b] : f.buckets) {
      const std::string sep = labels.empty() ? "" : labels + ",";
      for (std::size_t i = 0; i < n_buckets; ++i)
        out += name + "_bucket{" + sep + "le=\"" + number(bucket_bounds[i]) + "\"} " + number(b[i]) + "\n";
      out += name + "_bucket{" + sep + "le=\"+Inf\"} " + number(b[n_buckets + 1]) + "\n";
      const std::string braces = labels.empty() ? "" : "{" + labels + "}";
      out += name + "_sum" + braces + " " + number(b[n_buckets]) + "\n";
      out += name + "_count" + braces + " " + number(b[n_buckets + 1]) + "\n";
    }
  }
  return out;
}

}  // namespace postern::util
