// The testbed's decisions (SPEC §10): rules first (the first that matches
// wins), then the address scenarios (`greylist+N@…`, `locked+K@…`, …), then
// accept, for every domain. Counts are kept per client IP + sender +
// recipient ("triplet"), in memory, so a test sees the same sequence every
// time it runs against a fresh testbed.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "server/hooks.hpp"

namespace postern::testbed {

class Scenarios final : public server::Admission {
 public:
  using Clock = std::chrono::steady_clock;
  // `permissive_auth`: no users are configured, so any credentials pass
  // (but for the `fail@…` and `tempfail@…` users).
  Scenarios(std::vector<config::TestbedRule> rules, bool permissive_auth, std::function<Clock::time_point()> now = {});

  std::optional<server::Verdict> decide(server::Stage stage, const admission::SessionInfo& session,
                                        const admission::TransactionInfo* transaction,
                                        std::string_view argument) override;

  // At most this many rules are in force (configured ones included); an
  // add over it is refused whole.
  static constexpr std::size_t max_rules = 1000;
  // Triplets counted at most (greylist, locked, tempfail-data, rule `times`);
  // past it every count starts over.
  static constexpr std::size_t max_triplets = 100000;

  // The rules in force (configured first, then added over HTTP).
  std::vector<config::TestbedRule> rules() const;
  // Appends `rules` and returns the number (1-based, as transcripts name
  // rules) of the first. Throws TooManyRules, adding none, when the total
  // would pass max_rules.
  std::size_t add_rules(const std::vector<config::TestbedRule>& rules);
  void clear_rules();

 private:
  std::optional<server::Verdict> by_rule(server::Stage stage, const admission::SessionInfo& session,
                                         const admission::TransactionInfo* transaction, std::string_view argument);
  std::optional<server::Verdict> by_address(server::Stage stage, const admission::SessionInfo& session,
                                            const admission::TransactionInfo* transaction, std::string_view argument);
  // How many times `key` was seen before, counting this one.
  unsigned count(const std::string& key);
  bool over_rate(std::size_t index, const config::TestbedRule& rule, const std::string& client);
  void forget_if_full();

  mutable std::mutex mutex_;
  std::vector<config::TestbedRule> rules_;
  bool permissive_auth_;
  std::function<Clock::time_point()> now_;
  std::map<std::string, unsigned> counts_;
  std::map<std::string, Clock::time_point> first_seen_;
  std::map<std::string, std::deque<Clock::time_point>> recent_;  // rule + client IP: matching commands (rate)
};

// "greylist+30@x" → ("greylist", 30); no "+N" → nullopt for the number.
struct LocalScenario {
  std::string name;
  std::optional<long long> number;
};
LocalScenario local_scenario(std::string_view address);

struct TooManyRules : std::length_error {
  using std::length_error::length_error;
};

// Rules from JSON (POST /api/rules): one object or an array of them, with
// the keys of [[testbed.rule]]. Any input that is not such rules (bad
// JSON, a number out of range, an unknown key, a malformed rule) throws
// std::invalid_argument saying what is wrong, and nothing else.
std::vector<config::TestbedRule> rules_from_json(std::string_view text);

}  // namespace postern::testbed
