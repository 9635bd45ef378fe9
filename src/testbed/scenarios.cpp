#include "testbed/scenarios.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include <nlohmann/json.hpp>
#include <set>

#include "util/strings.hpp"

namespace postern::testbed {
namespace {

using server::Stage;
using server::Verdict;

std::string_view stage_name(Stage s) {
  switch (s) {
    case Stage::ehlo: return "EHLO";
    case Stage::starttls: return "STARTTLS";
    case Stage::mail: return "MAIL";
    case Stage::rcpt: return "RCPT";
    case Stage::data: return "DATA";
    case Stage::dot: return "DOT";
    case Stage::auth: return "AUTH";
  }
  return "";
}

bool glob(const std::string& pattern, std::string_view text) {
  return pattern.empty() || ::fnmatch(pattern.c_str(), std::string(text).c_str(), FNM_CASEFOLD) == 0;
}

Verdict reply(int code, const char* enhanced, std::string text) {
  Verdict v;
  v.action = Verdict::Action::reply;
  v.reply = smtp::Reply(code, enhanced, std::move(text));
  return v;
}

// "450 4.7.1 text" (checked by config::check_testbed_rule) as a Reply.
smtp::Reply parse_reply(const std::string& s) {
  const int code = std::stoi(s.substr(0, 3));
  auto [enhanced, text] = smtp::split_enhanced(code, s.size() > 4 ? std::string_view(s).substr(4) : "");
  return smtp::Reply(code, enhanced, text);
}

}  // namespace

namespace {

config::TestbedRule rule_from(const nlohmann::json& j) {
  if (!j.is_object()) throw std::invalid_argument("a rule is a JSON object");
  static const std::set<std::string> known{"command", "from", "to",     "user",  "reply",
                                           "times",   "delay", "action", "rate", "throttle"};
  for (auto& [key, value] : j.items())
    if (!known.count(key)) throw std::invalid_argument("unknown key \"" + util::printable(key, 40) + "\"");
  config::TestbedRule r;
  auto str = [&](const char* key, std::string& field) {
    if (!j.contains(key)) return;
    if (!j[key].is_string()) throw std::invalid_argument(std::string(key) + ": expected a string");
    field = j[key].get<std::string>();
  };
  str("command", r.command);
  for (auto& c : r.command) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  str("from", r.from);
  str("to", r.to);
  str("user", r.user);
  str("reply", r.reply);
  str("action", r.action);
  if (j.contains("times")) {
    if (!j["times"].is_number_unsigned() || j["times"].get<unsigned long long>() > 1000000000)
      throw std::invalid_argument("times: expected a whole number from 0 to 1000000000");
    r.times = j["times"].get<unsigned>();
  }
  if (j.contains("delay")) {
    if (!j["delay"].is_string()) throw std::invalid_argument("delay: expected a duration string such as \"2s\"");
    try {
      r.delay = config::parse_duration(j["delay"].get<std::string>());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("delay: ") + e.what());
    }
    if (r.delay > std::chrono::hours(1)) throw std::invalid_argument("delay: at most 1h");
  }
  if (j.contains("rate")) {
    if (!j["rate"].is_string()) throw std::invalid_argument("rate: expected a string \"N/DURATION\" such as \"5/1m\"");
    std::tie(r.rate_count, r.rate_window) = config::parse_rate(j["rate"].get<std::string>());
  }
  if (j.contains("throttle")) {
    if (!j["throttle"].is_string()) throw std::invalid_argument("throttle: expected a string \"BYTES/s\" such as \"1000/s\"");
    r.throttle = config::parse_throttle(j["throttle"].get<std::string>());
  }
  if (auto why = config::check_testbed_rule(r); !why.empty()) throw std::invalid_argument(why);
  return r;
}

}  // namespace

std::vector<config::TestbedRule> rules_from_json(std::string_view text) {
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number no double holds (1e999).
    throw std::invalid_argument(std::string("not JSON: ") + e.what());
  }
  std::vector<config::TestbedRule> out;
  try {
    if (body.is_array())
      for (const auto& r : body) out.push_back(rule_from(r));
    else
      out.push_back(rule_from(body));
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("not a rule: ") + e.what());
  }
  return out;
}

LocalScenario local_scenario(std::string_view address) {
  auto local = address.substr(0, address.rfind('@'));
  LocalScenario out;
  auto plus = local.find('+');
  out.name = util::to_lower(local.substr(0, plus));
  if (plus != std::string_view::npos) {
    long long n = 0;
    auto digits = local.substr(plus + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec == std::errc{} && p == digits.data() + digits.size() && n >= 0 && n <= 86400 * 365) out.number = n;
  }
  return out;
}

Scenarios::Scenarios(std::vector<config::TestbedRule> rules, bool permissive_auth, std::function<Clock::time_point()> now)
    : rules_(std::move(rules)), permissive_auth_(permissive_auth), now_(std::move(now)) {
  if (!now_) now_ = [] { return Clock::now(); };
}

std::vector<config::TestbedRule> Scenarios::rules() const {
  std::lock_guard lock(mutex_);
  return rules_;
}

std::size_t Scenarios::add_rules(const std::vector<config::TestbedRule>& rules) {
  std::lock_guard lock(mutex_);
  if (rules.size() > max_rules - std::min(max_rules, rules_.size()))
    throw TooManyRules("at most " + std::to_string(max_rules) + " rules: " + std::to_string(rules_.size()) +
                       " in force, " + std::to_string(rules.size()) + " more refused; DELETE /api/rules first");
  const std::size_t first = rules_.size() + 1;
  rules_.insert(rules_.end(), rules.begin(), rules.end());
  return first;
}

void Scenarios::clear_rules() {
  std::lock_guard lock(mutex_);
  rules_.clear();
}

unsigned Scenarios::count(const std::string& key) {
  forget_if_full();
  return ++counts_[key];
}

// Rule `index`'s matching commands from `client` within its window, this
// one counted: true once there are more than its count. Only the latest
// count + 1 times are kept, all a decision needs.
bool Scenarios::over_rate(std::size_t index, const config::TestbedRule& rule, const std::string& client) {
  forget_if_full();
  auto& seen = recent_[std::to_string(index) + "|" + client];
  const auto now = now_();
  seen.push_back(now);
  while (!seen.empty() && now - seen.front() >= rule.rate_window) seen.pop_front();
  while (seen.size() > static_cast<std::size_t>(rule.rate_count) + 1) seen.pop_front();
  return seen.size() > rule.rate_count;
}

// Every distinct client + sender + recipient adds an entry: past the cap
// all counts start over, rather than memory growing with what clients send.
void Scenarios::forget_if_full() {
  if (counts_.size() + first_seen_.size() + recent_.size() < max_triplets) return;
  counts_.clear();
  first_seen_.clear();
  recent_.clear();
}

std::optional<Verdict> Scenarios::decide(Stage stage, const admission::SessionInfo& session,
                                         const admission::TransactionInfo* transaction, std::string_view argument) {
  std::lock_guard lock(mutex_);
  if (auto v = by_rule(stage, session, transaction, argument)) return v;
  auto v = by_address(stage, session, transaction, argument);
  if (v && (v->action != Verdict::Action::accept || v->delay.count() > 0)) {
    // Which address asked for it: the one at hand, or the transaction's that has a scenario.
    std::string address(argument);
    if ((stage == Stage::data || stage == Stage::dot || v->delay.count() > 0) && transaction) {
      for (const auto& t : transaction->recipients) {
        const auto n = local_scenario(t).name;
        if (n == "reject-data" || n == "tempfail-data" || n == "slow") {
          address = t;
          if (n != "slow" || stage != Stage::dot) break;
        }
      }
    }
    v->cause = "scenario " + util::to_lower(address.substr(0, address.rfind('@')));
  }
  return v;
}

std::optional<Verdict> Scenarios::by_rule(Stage stage, const admission::SessionInfo& session,
                                          const admission::TransactionInfo* transaction, std::string_view argument) {
  const std::string from = transaction ? transaction->reverse_path.str() : stage == Stage::mail ? std::string(argument) : "";
  std::vector<std::string> tos;
  if (stage == Stage::rcpt) tos.emplace_back(argument);
  else if (transaction) tos = transaction->recipients;
  if (tos.empty()) tos.emplace_back();
  const std::string user = stage == Stage::auth ? std::string(argument) : session.auth_identity;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const auto& r = rules_[i];
    if (r.command != stage_name(stage) || !glob(r.from, from) || !glob(r.user, user)) continue;
    auto to = std::find_if(tos.begin(), tos.end(), [&](const std::string& t) { return glob(r.to, t); });
    if (to == tos.end()) continue;
    if (r.rate_window.count() > 0 && !over_rate(i, r, session.peer_address)) continue;
    if (r.times > 0) {
      const auto key = "rule" + std::to_string(i) + "|" + session.peer_address + "|" + util::to_lower(from) + "|" +
                       util::to_lower(*to);
      if (count(key) > r.times) continue;  // passes from now on
    }
    Verdict v;
    v.cause = "rule " + std::to_string(i + 1) + ": " + r.command + (r.from.empty() ? "" : " from " + r.from) +
              (r.to.empty() ? "" : " to " + r.to) + (r.user.empty() ? "" : " user " + r.user) +
              (r.times ? ", first " + std::to_string(r.times) + " times" : "") +
              (r.rate_window.count() ? ", over " + config::format_rate(r.rate_count, r.rate_window) : "") +
              (r.throttle ? ", read at " + config::format_throttle(r.throttle) : "");
    v.delay = std::chrono::duration_cast<std::chrono::milliseconds>(r.delay);
    if (r.throttle) {
      v.action = Verdict::Action::accept;
      v.throttle = r.throttle;
    } else if (r.action == "drop") {
      v.action = Verdict::Action::drop;
    } else {
      v.action = r.action == "shutdown" ? Verdict::Action::shutdown : Verdict::Action::reply;
      v.reply = parse_reply(r.reply);
    }
    return v;
  }
  return std::nullopt;
}

std::optional<Verdict> Scenarios::by_address(Stage stage, const admission::SessionInfo& session,
                                             const admission::TransactionInfo* transaction, std::string_view argument) {
  const std::string from = transaction ? util::to_lower(transaction->reverse_path.str()) : "";
  // slow+S: every later reply of the transaction comes S seconds late.
  std::chrono::milliseconds slow{0};
  if (transaction && stage != Stage::mail) {
    for (const auto& t : transaction->recipients) {
      auto s = local_scenario(t);
      if (s.name == "slow") slow = std::max(slow, std::chrono::milliseconds(1000 * s.number.value_or(1)));
    }
  }
  auto with_delay = [&](Verdict v) {
    v.delay = slow;
    return v;
  };
  switch (stage) {
    case Stage::ehlo:
    case Stage::starttls:
      return std::nullopt;
    case Stage::mail:
      return Verdict{};  // any sender
    case Stage::auth: {
      const auto s = local_scenario(argument);
      if (s.name == "fail") return reply(535, "5.7.8", "Authentication credentials invalid");
      if (s.name == "tempfail") return reply(454, "4.7.0", "Temporary authentication failure");
      if (permissive_auth_) return Verdict{};
      return std::nullopt;  // the configured users decide
    }
    case Stage::rcpt: {
      const auto s = local_scenario(argument);
      const std::string triplet = session.peer_address + "|" + from + "|" + util::to_lower(argument);
      if (s.name == "greylist") {
        const auto wait = std::chrono::seconds(s.number.value_or(60));
        const auto now = now_();
        forget_if_full();
        auto [it, fresh] = first_seen_.emplace(triplet, now);
        const auto passes = it->second + wait;
        if (now < passes) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(passes - now).count();
          return with_delay(reply(450, "4.2.0", "Greylisted, try again in " + std::to_string((left + 999) / 1000) +
                                                     " seconds"));
        }
        return with_delay(Verdict{});
      }
      if (s.name == "locked") {
        if (!s.number || count("locked|" + triplet) <= static_cast<unsigned long long>(*s.number))
          return with_delay(reply(450, "4.2.1", "Mailbox temporarily unavailable, try again later"));
        return with_delay(Verdict{});
      }
      if (s.name == "full") return with_delay(reply(452, "4.2.2", "Mailbox full"));
      if (s.name == "disabled") return with_delay(reply(550, "5.2.1", "Mailbox disabled"));
      if (s.name == "unknown") return with_delay(reply(550, "5.1.1", "No such user"));
      if (s.name == "shutdown-after-rcpt") {
        Verdict v = with_delay(reply(421, "4.3.2", "Service shutting down"));
        v.action = Verdict::Action::shutdown;
        return v;
      }
      if (s.name == "drop-after-rcpt") {
        Verdict v = with_delay(Verdict{});
        v.action = Verdict::Action::drop;
        return v;
      }
      return with_delay(Verdict{});  // any other address, any domain
    }
    case Stage::data:
      if (slow.count()) return with_delay(Verdict{});
      return std::nullopt;
    case Stage::dot: {
      if (!transaction) return std::nullopt;
      for (const auto& t : transaction->recipients) {
        const auto s = local_scenario(t);
        if (s.name == "reject-data") return with_delay(reply(554, "5.7.1", "Message refused"));
        if (s.name == "tempfail-data") {
          const std::string triplet = session.peer_address + "|" + from + "|" + util::to_lower(t);
          if (!s.number || count("tempfail-data|" + triplet) <= static_cast<unsigned long long>(*s.number))
            return with_delay(reply(451, "4.3.0", "Temporary failure, try again later"));
        }
      }
      if (slow.count()) return with_delay(Verdict{});
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace postern::testbed
