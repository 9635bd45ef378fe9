#include "client/retry.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <random>

#include "util/strings.hpp"

namespace postern::client {

namespace {

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Unit word → seconds per unit, or 0 when it is not a time unit.
long long unit_seconds(std::string_view w) {
  static constexpr std::pair<std::string_view, long long> units[] = {
      {"s", 1},       {"sec", 1},     {"secs", 1},    {"second", 1}, {"seconds", 1},
      {"m", 60},      {"min", 60},    {"mins", 60},   {"minute", 60}, {"minutes", 60},
      {"h", 3600},    {"hr", 3600},   {"hrs", 3600},  {"hour", 3600}, {"hours", 3600},
  };
  for (auto& [name, secs] : units)
    if (w == name) return secs;
  return 0;
}

}  // namespace

std::optional<Seconds> retry_hint(std::string_view text) {
  // Look for "<in|after|for> N <unit>" (also "N<unit>" glued, "in 60s").
  const std::string s = util::to_lower(text.substr(0, 1000));
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && !is_word_char(s[i])) ++i;
    std::size_t start = i;
    while (i < s.size() && is_word_char(s[i])) ++i;
    std::string_view word(s.data() + start, i - start);
    if (word != "in" && word != "after" && word != "for") continue;
    std::size_t j = i;
    while (j < s.size() && s[j] == ' ') ++j;
    std::size_t num_start = j;
    long long n = 0;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])) && j - num_start < 9) n = n * 10 + (s[j++] - '0');
    if (j == num_start) continue;
    while (j < s.size() && s[j] == ' ') ++j;
    std::size_t unit_start = j;
    while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
    long long per = unit_seconds(std::string_view(s.data() + unit_start, j - unit_start));
    if (per == 0) continue;
    return Seconds(n * per);
  }
  return std::nullopt;
}

RetrySchedule::RetrySchedule(RetryPolicy policy, std::function<double()> uniform)
    : policy_(policy), uniform_(std::move(uniform)) {
  if (!uniform_) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    uniform_ = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  }
  if (policy_.initial < Seconds(1)) policy_.initial = Seconds(1);
  if (policy_.max < policy_.initial) policy_.max = policy_.initial;
}

Seconds RetrySchedule::backoff(const RetryPolicy& policy, unsigned failures) {
  if (failures == 0) return Seconds(0);
  long long step = std::max<long long>(policy.initial.count(), 1);
  for (unsigned k = 1; k < failures && step < policy.max.count(); ++k) step *= 2;
  return Seconds(std::min<long long>(step, policy.max.count()));
}

Seconds RetrySchedule::next(std::optional<Seconds> hint) {
  ++failures_;
  if (hint) {
    // The server knows when it will accept; a hint is trusted within bounds.
    long long h = std::clamp<long long>(hint->count() + policy_.hint_margin.count(), policy_.hint_min.count(),
                                        policy_.max.count());
    return Seconds(h);
  }
  double step = static_cast<double>(backoff(policy_, failures_).count());
  // Jitter spreads retries so a queue restart does not fire them all at once.
  double factor = 1.0 + policy_.jitter * (2.0 * uniform_() - 1.0);
  long long d = std::llround(step * factor);
  d = std::clamp<long long>(d, 1, policy_.max.count());
  return Seconds(d);
}

std::string describe(Seconds delay) {
  long long s = delay.count();
  if (s < 60) return std::to_string(s) + " s";
  std::string out;
  if (s >= 3600) {
    out = std::to_string(s / 3600) + " h";
    s %= 3600;
    if (s / 60) out += " " + std::to_string(s / 60) + " min";
    return out;
  }
  out = std::to_string(s / 60) + " min";
  if (s % 60) out += " " + std::to_string(s % 60) + " s";
  return out;
}

}  // namespace postern::client
