#include "policy/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "policy/pool.hpp"
#include "util/ids.hpp"

namespace postern::policy {
namespace {

// KEYS: triplet hash, network hash, allow version.
// ARGV: now, delay, retry_window, max_age, auto_allow_after, cached allow
// version, network, sender, recipient. Same state machine as SqliteStore.
constexpr std::string_view decide_script = R"lua(
local function s(x) return string.format('%d', x) end
local now = tonumber(ARGV[1])
local delay = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local max_age = tonumber(ARGV[4])
local auto = tonumber(ARGV[5])
local version = redis.call('GET', KEYS[3]) or '0'
if version ~= ARGV[6] then return {'stale', version} end
if auto > 0 then
  local n = redis.call('HMGET', KEYS[2], 'passes', 'exp')
  if n[1] and n[2] and tonumber(n[2]) > now and tonumber(n[1]) >= auto then return {'network', n[1]} end
end
local t = redis.call('HMGET', KEYS[1], 'first', 'passed', 'exp')
local first = tonumber(t[1])
if not first or not t[3] or tonumber(t[3]) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'network', ARGV[7], 'sender', ARGV[8], 'recipient', ARGV[9],
             'first', s(now), 'last', s(now), 'passes', '0', 'passed', '0', 'exp', s(now + window))
  redis.call('PEXPIRE', KEYS[1], s(window))
  return {'greylisted', s(delay)}
end
if t[2] == '0' and now - first < delay then
  redis.call('HSET', KEYS[1], 'last', s(now))
  return {'greylisted', s(first + delay - now)}
end
local passes = redis.call('HINCRBY', KEYS[1], 'passes', 1)
redis.call('HSET', KEYS[1], 'last', s(now), 'passed', '1', 'exp', s(now + max_age))
redis.call('PEXPIRE', KEYS[1], s(max_age))
if t[2] == '0' then
  local e = redis.call('HGET', KEYS[2], 'exp')
  if e and tonumber(e) <= now then redis.call('DEL', KEYS[2]) end
  redis.call('HINCRBY', KEYS[2], 'passes', 1)
  redis.call('HSET', KEYS[2], 'network', ARGV[7], 'exp', s(now + max_age))
  redis.call('PEXPIRE', KEYS[2], s(max_age))
end
return {'passed', s(passes)}
)lua";

// KEYS: the client's sorted set. ARGV: now, window, max, unique member.
constexpr std::string_view rate_script = R"lua(
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

// KEYS: failure counter, lock. ARGV: failures, window ms, duration ms.
// Returns 1 when this failure starts a lockout.
constexpr std::string_view auth_failure_script = R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)lua";

// KEYS: hashes with an `exp` field. ARGV: now. Deletes the expired ones.
constexpr std::string_view purge_script = R"lua(
local now = tonumber(ARGV[1])
local removed = 0
for _, k in ipairs(KEYS) do
  local e = redis.call('HGET', k, 'exp')
  if e and tonumber(e) <= now then
    redis.call('DEL', k)
    removed = removed + 1
  end
end
return removed
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

std::string str(const redisReply* r) {
  if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR))
    return std::string(r->str, r->len);
  if (r && r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return {};
}

std::int64_t to_int(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

RedisUrl RedisUrl::parse(std::string_view url) {
  RedisUrl u;
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme) throw StoreError("store URL must start with redis://: " + std::string(url));
  auto rest = url.substr(scheme.size());
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    auto colon = userinfo.find(':');
    u.password = std::string(colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw StoreError("bad IPv6 host in store URL: " + std::string(url));
    host = rest.substr(1, close - 1);
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw StoreError("bad store URL: " + std::string(url));
      port = after.substr(1);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) throw StoreError("bad port in store URL: " + std::string(url));
  }
  if (!host.empty()) u.host = std::string(host);
  auto number = [&](std::string_view digits, int max, const char* what) {
    int v = -1;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || v < 0 || v > max)
      throw StoreError(std::string("bad ") + what + " in store URL: " + std::string(url));
    return v;
  };
  if (!port.empty()) u.port = number(port, 65535, "port");
  if (!path.empty()) u.db = number(path, 1 << 20, "database number");
  return u;
}

struct RedisStore::Connection {
  redisContext* ctx = nullptr;
  std::string decide_sha, rate_sha, purge_sha;

  explicit Connection(const RedisUrl& url) {
    timeval tv{2, 0};
    ctx = redisConnectWithTimeout(url.host.c_str(), url.port, tv);
    if (!ctx) throw StoreError("redis: out of memory");
    if (ctx->err) {
      std::string msg = "redis " + url.host + ":" + std::to_string(url.port) + ": " + ctx->errstr;
      redisFree(ctx);
      ctx = nullptr;
      throw StoreError(msg);
    }
    redisSetTimeout(ctx, tv);
    if (!url.password.empty()) command({"AUTH", url.password});
    if (url.db != 0) command({"SELECT", std::to_string(url.db)});
    decide_sha = str(command({"SCRIPT", "LOAD", std::string(decide_script)}).get());
    rate_sha = str(command({"SCRIPT", "LOAD", std::string(rate_script)}).get());
    purge_sha = str(command({"SCRIPT", "LOAD", std::string(purge_script)}).get());
  }
  ~Connection() {
    if (ctx) redisFree(ctx);
  }

  // Sends one command; throws StoreError on a broken connection or an error reply.
  ReplyPtr command(const std::vector<std::string>& args, bool throw_on_error = true) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!r) throw StoreError(std::string("redis: ") + (ctx->err ? ctx->errstr : "no reply"));
    ReplyPtr reply(r);
    if (throw_on_error && r->type == REDIS_REPLY_ERROR) throw StoreError("redis: " + str(r));
    return reply;
  }

  // EVALSHA, then EVAL if the server forgot the script (NOSCRIPT).
  ReplyPtr eval(const std::string& sha, std::string_view script, const std::vector<std::string>& keys,
                const std::vector<std::string>& args) {
    std::vector<std::string> cmd{"EVALSHA", sha, std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    auto r = command(cmd, false);
    if (r->type == REDIS_REPLY_ERROR && str(r.get()).rfind("NOSCRIPT", 0) == 0) {
      cmd[0] = "EVAL";
      cmd[1] = std::string(script);
      r = command(cmd, false);
    }
    if (r->type == REDIS_REPLY_ERROR) throw StoreError("redis: " + str(r.get()));
    return r;
  }
};

struct RedisStore::Impl {
  RedisUrl url;
  std::string spec;
  std::string prefix;
  Pool<Connection> pool;
  Impl(RedisUrl u, std::string s, std::string p)
      : url(std::move(u)), spec(std::move(s)), prefix(std::move(p)), pool([this] { return std::make_unique<Connection>(url); }) {}

  // Runs f(connection); a connection that threw is not reused.
  template <class F>
  auto with(F&& f) -> decltype(f(std::declval<Connection&>())) {
    auto c = pool.lease();
    try {
      return f(*c);
    } catch (...) {
      c.discard();
      throw;
    }
  }

  std::vector<std::string> scan(Connection& c, const std::string& pattern) {
    std::vector<std::string> keys;
    std::string cursor = "0";
    for (int rounds = 0; rounds < 1'000'000; ++rounds) {
      auto r = c.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw StoreError("redis: unexpected SCAN reply");
      cursor = str(r->element[0]);
      auto* batch = r->element[1];
      for (size_t i = 0; i < batch->elements; ++i) keys.push_back(str(batch->element[i]));
      if (cursor == "0") break;
    }
    return keys;
  }

  std::map<std::string, std::string> hash(Connection& c, const std::string& key) {
    auto r = c.command({"HGETALL", key});
    std::map<std::string, std::string> out;
    if (r->type == REDIS_REPLY_ARRAY)
      for (size_t i = 0; i + 1 < r->elements; i += 2) out[str(r->element[i])] = str(r->element[i + 1]);
    return out;
  }
};

RedisStore::RedisStore(std::string_view url, std::string key_prefix)
    : impl_(std::make_unique<Impl>(RedisUrl::parse(url), std::string(url), std::move(key_prefix))) {
  impl_->with([](Connection&) { return 0; });
}

RedisStore::~RedisStore() = default;

std::string RedisStore::describe() const { return impl_->spec; }

Decision RedisStore::decide(const Triplet& t, const Timing& timing, Millis now, std::int64_t allow_version) {
  return impl_->with([&](Connection& c) {
    const auto& p = impl_->prefix;
    auto r = c.eval(c.decide_sha, decide_script,
                    {p + "gl:t:" + t.key(), p + "gl:n:" + t.network, p + "gl:allow_version"},
                    {std::to_string(now), std::to_string(timing.delay), std::to_string(timing.retry_window),
                     std::to_string(timing.max_age), std::to_string(timing.auto_allow_after),
                     std::to_string(allow_version), t.network, t.sender, t.recipient});
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw StoreError("redis: unexpected decision reply");
    std::string kind = str(r->element[0]);
    std::int64_t value = to_int(str(r->element[1]));
    Decision d;
    if (kind == "greylisted") {
      d.verdict = Verdict::greylisted;
      d.wait = value;
    } else if (kind == "passed") {
      d.verdict = Verdict::passed;
      d.passes = value;
    } else if (kind == "network") {
      d.verdict = Verdict::network_allowed;
      d.passes = value;
    } else if (kind == "stale") {
      d.verdict = Verdict::stale_allow;
      d.allow_version = value;
    } else {
      throw StoreError("redis: unexpected decision " + kind);
    }
    return d;
  });
}

bool RedisStore::rate_hit(std::string_view client, unsigned max, Millis window, Millis now) {
  return impl_->with([&](Connection& c) {
    auto r = c.eval(c.rate_sha, rate_script, {impl_->prefix + "rate:" + std::string(client)},
                    {std::to_string(now), std::to_string(window), std::to_string(max),
                     std::to_string(now) + "-" + util::random_hex(8)});
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  });
}

bool RedisStore::auth_locked(std::string_view client) {
  return impl_->with([&](Connection& c) {
    auto r = c.command({"EXISTS", impl_->prefix + "auth:l:" + std::string(client)});
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  });
}

bool RedisStore::auth_failure(std::string_view client, unsigned failures, Millis window, Millis duration) {
  return impl_->with([&](Connection& c) {
    auto r = c.command({"EVAL", std::string(auth_failure_script), "2", impl_->prefix + "auth:f:" + std::string(client),
                        impl_->prefix + "auth:l:" + std::string(client), std::to_string(failures),
                        std::to_string(window), std::to_string(duration)});
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  });
}

void RedisStore::add_allow(std::string_view entry, Millis) {
  impl_->with([&](Connection& c) {
    auto r = c.command({"SADD", impl_->prefix + "gl:allow", std::string(entry)});
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) c.command({"INCR", impl_->prefix + "gl:allow_version"});
    return 0;
  });
}

std::vector<std::string> RedisStore::allow_entries() {
  return impl_->with([&](Connection& c) {
    auto r = c.command({"SMEMBERS", impl_->prefix + "gl:allow"});
    std::vector<std::string> out;
    if (r->type == REDIS_REPLY_ARRAY)
      for (size_t i = 0; i < r->elements; ++i) out.push_back(str(r->element[i]));
    std::sort(out.begin(), out.end());
    return out;
  });
}

std::int64_t RedisStore::allow_version() {
  return impl_->with([&](Connection& c) {
    auto r = c.command({"GET", impl_->prefix + "gl:allow_version"});
    return r->type == REDIS_REPLY_STRING ? to_int(str(r.get())) : 0;
  });
}

std::vector<Entry> RedisStore::list(Millis now) {
  return impl_->with([&](Connection& c) {
    std::vector<Entry> out;
    for (auto& key : impl_->scan(c, impl_->prefix + "gl:t:*")) {
      auto h = impl_->hash(c, key);
      if (h.empty() || to_int(h["exp"]) <= now) continue;
      Entry e;
      e.triplet = {h["network"], h["sender"], h["recipient"]};
      e.first_seen = to_int(h["first"]);
      e.last_seen = to_int(h["last"]);
      e.passes = to_int(h["passes"]);
      e.passed = h["passed"] == "1";
      e.expires = to_int(h["exp"]);
      out.push_back(std::move(e));
    }
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
      return a.first_seen != b.first_seen ? a.first_seen < b.first_seen : a.triplet.key() < b.triplet.key();
    });
    return out;
  });
}

std::vector<NetworkEntry> RedisStore::networks(Millis now) {
  return impl_->with([&](Connection& c) {
    std::vector<NetworkEntry> out;
    for (auto& key : impl_->scan(c, impl_->prefix + "gl:n:*")) {
      auto h = impl_->hash(c, key);
      if (h.empty() || to_int(h["exp"]) <= now) continue;
      out.push_back({h["network"], to_int(h["passes"]), to_int(h["exp"])});
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.network < b.network; });
    return out;
  });
}

std::int64_t RedisStore::purge(Millis now, bool all) {
  return impl_->with([&](Connection& c) {
    std::int64_t removed = 0;
    const auto& p = impl_->prefix;
    if (all) {
      for (auto pattern : {p + "gl:t:*", p + "gl:n:*", p + "rate:*"}) {
        auto keys = impl_->scan(c, pattern);
        for (size_t i = 0; i < keys.size(); i += 500) {
          std::vector<std::string> cmd{"DEL"};
          for (size_t j = i; j < keys.size() && j < i + 500; ++j) cmd.push_back(keys[j]);
          removed += c.command(cmd)->integer;
        }
      }
      return removed;
    }
    // Redis drops keys at their TTL by itself; this catches the ones whose
    // stored expiry has passed first (clock skew between nodes, test clocks).
    for (auto pattern : {p + "gl:t:*", p + "gl:n:*"}) {
      auto keys = impl_->scan(c, pattern);
      for (size_t i = 0; i < keys.size(); i += 500) {
        std::vector<std::string> batch(keys.begin() + static_cast<std::ptrdiff_t>(i),
                                       keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + 500)));
        auto r = c.eval(c.purge_sha, purge_script, batch, {std::to_string(now)});
        removed += r->integer;
      }
    }
    return removed;
  });
}

}  // namespace postern::policy
