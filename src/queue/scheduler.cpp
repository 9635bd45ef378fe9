#include "queue/scheduler.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/system_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <deque>
#include <future>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "delivery/lmtp.hpp"
#include "log/log.hpp"
#include "queue/control.hpp"
#include "queue/inflight.hpp"

namespace postern::queue {

namespace fs = std::filesystem;
using store::RecipientStatus;
using States = std::optional<std::vector<store::RecipientState>>;

namespace {

// Looks at this many due messages, then lets other events in.
constexpr std::size_t examine_batch = 512;

}  // namespace

struct Scheduler::Impl {
  Impl(std::shared_ptr<const config::Config> c, store::Spool& s, delivery::LocalDelivery& l, Inject inject,
       SchedulerOptions o)
      : config(std::move(c)), schedule(Schedule::from(config->queue)), spool(s), local(l),
        recorder(s, std::move(inject), o.metrics), options(o),
        smtp(io, s, [this](const Job& job, const store::SpoolEntry* entry, std::vector<Outcome> outcomes) {
          return record_smtp(job, entry, std::move(outcomes));
        }, o.smtp),
        pool(std::max(1u, o.local_threads)), due_timer(io), control_timer(io), rng(std::random_device{}()) {
    recorder.set_observer(o.on_recorded);
  }

  std::shared_ptr<const config::Config> config;  // replaced on the scheduler's thread only
  Schedule schedule;
  store::Spool& spool;
  delivery::LocalDelivery& local;
  Recorder recorder;
  SchedulerOptions options;

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  SmtpTransport smtp;
  asio::thread_pool pool;
  asio::system_timer due_timer;
  asio::steady_timer control_timer;
  std::mt19937_64 rng;
  bool stopping = false;
  std::atomic<std::uint64_t> possible_duplicates{0};
  std::atomic<std::uint64_t> indexed{0};

  // The index: every message we know of, and when it is due.
  struct Item {
    Clock::time_point due{};
    bool scheduled = false;  // in `due_order`
    unsigned jobs = 0;       // attempts queued or in flight
    bool forced = false;     // `postern queue retry`: deferred recipients are due now
  };
  std::unordered_map<std::string, Item> items;
  std::set<std::pair<Clock::time_point, std::string>> due_order;
  std::optional<Clock::time_point> timer_at;
  bool run_posted = false;

  struct LocalJob {
    Job job;
    std::shared_ptr<const store::SpoolEntry> entry;
  };
  std::deque<LocalJob> local_waiting;
  unsigned local_active = 0;

  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  // ------------------------------------------------------------ the index

  void set_due(const std::string& id, Item& item, Clock::time_point when) {
    if (item.scheduled) due_order.erase({item.due, id});
    item.due = when;
    item.scheduled = true;
    due_order.emplace(when, id);
    arm();
  }

  void forget(const std::string& id) {
    auto it = items.find(id);
    if (it == items.end()) return;
    if (it->second.scheduled) due_order.erase({it->second.due, id});
    items.erase(it);
    indexed = items.size();
  }

  // The timer rings at the earliest due time; what is due now runs at once.
  void arm() {
    if (due_order.empty() || stopping) return;
    const auto first = due_order.begin()->first;
    if (first <= Clock::now()) {
      if (!run_posted) {
        run_posted = true;
        asio::post(io, [this] {
          run_posted = false;
          run_due();
        });
      }
      return;
    }
    if (timer_at && *timer_at <= first) return;
    timer_at = first;
    due_timer.expires_at(first);
    due_timer.async_wait([this](asio::error_code ec) {
      if (ec) return;  // re-armed earlier, or stopping
      timer_at.reset();
      run_due();
    });
  }

  void run_due() {
    if (stopping) return;
    const auto now = Clock::now();
    std::size_t n = 0;
    while (!due_order.empty() && due_order.begin()->first <= now && n < examine_batch) {
      std::string id = due_order.begin()->second;
      due_order.erase(due_order.begin());
      auto it = items.find(id);
      if (it == items.end()) continue;
      it->second.scheduled = false;
      if (it->second.jobs > 0) continue;  // looked at again when its attempts end
      ++n;
      examine(id, it->second, now);
    }
    arm();
  }

  // When a message is due next, from its recipients' states; nullopt when
  // every recipient is final.
  static std::optional<Clock::time_point> next_due(const std::vector<store::RecipientState>& states,
                                                   Clock::time_point now) {
    std::optional<Clock::time_point> next;
    for (const auto& r : states) {
      if (r.final()) continue;
      const auto t = r.status == RecipientStatus::deferred ? r.next_attempt : now;
      if (!next || t < *next) next = t;
    }
    return next;
  }

  // Starts the attempts that are due for one message.
  void examine(const std::string& id, Item& item, Clock::time_point now) {
    std::optional<store::SpoolEntry> entry;
    try {
      entry = spool.load(id);
    } catch (const std::exception& e) {
      log::Event("queue_error").add("queue_id", id).add("error", e.what());
      set_due(id, item, now + std::chrono::seconds(5));
      return;
    }
    if (!entry) {  // delivered, or `postern queue delete`
      forget(id);
      return;
    }
    const bool forced = std::exchange(item.forced, false);
    std::vector<std::size_t> mine;
    std::vector<std::pair<std::size_t, std::string>> remote;
    std::optional<Clock::time_point> later;
    bool all_final = true;
    for (std::size_t i = 0; i < entry->recipients.size(); ++i) {
      const auto& r = entry->recipients[i];
      if (r.final()) continue;
      all_final = false;
      if (r.status == RecipientStatus::deferred && r.next_attempt > now && !forced) {
        if (!later || r.next_attempt < *later) later = r.next_attempt;
        continue;
      }
      if (config->delivers_locally(r.address)) mine.push_back(i);
      else remote.emplace_back(i, r.address);
    }
    if (all_final) {  // a crash came between the last state and the removal
      recorder.finish(id);
      forget(id);
      return;
    }
    if (!remote.empty()) item.jobs += static_cast<unsigned>(smtp.enqueue(id, remote));
    if (!mine.empty()) {
      ++item.jobs;
      local_waiting.push_back({Job{id, std::move(mine)}, std::make_shared<const store::SpoolEntry>(std::move(*entry))});
      pump_local();
    }
    if (item.jobs == 0 && later) set_due(id, item, *later);
  }

  // An attempt ended; `states` are the message's recipients after it
  // (nullopt: the message is gone). `failed`: it could not be recorded.
  void attempt_done(const std::string& id, const States& states, bool failed = false) {
    auto it = items.find(id);
    if (it == items.end()) return;
    auto& item = it->second;
    if (item.jobs > 0) --item.jobs;
    if (item.jobs > 0 || stopping) return;
    const auto now = Clock::now();
    if (failed) set_due(id, item, now + std::chrono::seconds(5));
    else if (!states) forget(id);
    else if (auto next = next_due(*states, now)) set_due(id, item, *next);
    else forget(id);
  }

  // ------------------------------------------------------------ transports

  // Runs `f` on the blocking pool and resumes on the scheduler's thread.
  // `f` is a named object of the calling coroutine: GCC 12 destroys
  // temporaries inside a co_await expression twice.
  template <class F>
  asio::awaitable<std::invoke_result_t<F&>> blocking(F& f) {
    using R = std::invoke_result_t<F&>;
    co_return co_await asio::co_spawn(pool, [&f]() -> asio::awaitable<R> { co_return f(); }, asio::use_awaitable);
  }

  void pump_local() {
    while (!local_waiting.empty() && local_active < options.local_in_flight && !stopping) {
      ++local_active;
      asio::co_spawn(io, run_local(std::move(local_waiting.front())), asio::detached);
      local_waiting.pop_front();
    }
  }

  // A local job: mailboxes (and alias expansion, unknown users) on the
  // blocking pool; with an LMTP transport, the recipients left go to the
  // LMTP server from this thread (delivery/lmtp.hpp); then every outcome
  // is recorded at once, on the pool.
  asio::awaitable<void> run_local(LocalJob job) {
    const auto cfg = config;
    const auto sched = schedule;
    const double u = uniform();
    std::vector<delivery::LocalDelivery::Result> results;
    std::vector<std::size_t> lmtp;
    std::optional<std::string> body;
    auto attempt = [&]() -> bool {
      results = local.attempt(*job.entry, job.job.rcpts, &lmtp);
      if (!lmtp.empty()) body = spool.message(job.job.id);
      return !(results.empty() && lmtp.empty()) && (lmtp.empty() || body);  // false: the message went meanwhile
    };
    std::vector<delivery::LmtpResult> handed;
    auto record = [&]() -> States {
      std::vector<std::size_t> rcpts;
      std::vector<Outcome> outcomes;
      for (const auto& r : results) {
        rcpts.push_back(r.recipient);
        outcomes.push_back(from_local(r));
      }
      for (const auto& r : handed) {
        rcpts.push_back(r.recipient);
        outcomes.push_back(from_local({r.recipient, r.status, r.reply}));
      }
      return recorder.record(*cfg, sched, *job.entry, rcpts, std::move(outcomes), Transport::local, u);
    };
    States states;
    bool failed = false;
    try {
      if (co_await blocking(attempt)) {
        if (!lmtp.empty()) {
          // Named, not temporaries: GCC 12 destroys temporaries in a co_await expression twice.
          asio::any_io_executor executor = io.get_executor();
          auto got = co_await delivery::deliver(executor, *cfg, *job.entry, *body, lmtp);
          handed = std::move(got);
        }
        states = co_await blocking(record);
      }
    } catch (const std::exception& e) {
      log::Event("queue_error").add("queue_id", job.job.id).add("error", e.what());
      failed = true;
    }
    --local_active;
    attempt_done(job.job.id, states, failed);
    pump_local();
  }

  // SMTP outcomes waiting to be recorded. A task on the blocking pool
  // records every one that came meanwhile, so under load many share one
  // trip to the pool and one directory fsync; each connection waits for
  // its own outcomes, as before, and goes on once they are recorded.
  struct PendingRecord {
    explicit PendingRecord(asio::io_context& io) : wake(io, asio::steady_timer::time_point::max()) {}
    Recorder::Attempt attempt;
    std::string id;
    std::optional<store::SpoolEntry> loaded;
    bool failed = false;
    asio::steady_timer wake;  // cancelled once recorded
  };
  std::vector<std::shared_ptr<PendingRecord>> pending_records;
  unsigned recording = 0;  // batches on the pool

  asio::awaitable<void> record_smtp(const Job& job, const store::SpoolEntry* entry, std::vector<Outcome> outcomes) {
    if (outcomes.empty()) {
      attempt_done(job.id, std::nullopt);
      co_return;
    }
    auto p = std::make_shared<PendingRecord>(io);
    p->id = job.id;
    p->attempt.entry = entry;
    p->attempt.rcpts = &job.rcpts;
    p->attempt.outcomes = std::move(outcomes);
    p->attempt.transport = Transport::smtp;
    p->attempt.uniform = uniform();
    pending_records.push_back(p);
    start_recording();
    asio::error_code ec;
    co_await p->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    attempt_done(job.id, p->attempt.states, p->failed);
  }

  void start_recording() {
    if (pending_records.empty() || recording >= std::max(1u, options.local_threads)) return;
    ++recording;
    auto batch = std::make_shared<std::vector<std::shared_ptr<PendingRecord>>>(std::move(pending_records));
    pending_records.clear();
    asio::post(pool, [this, batch, cfg = config, sched = schedule] {
      std::vector<Recorder::Attempt> attempts;
      std::vector<PendingRecord*> owners;
      for (auto& p : *batch) {
        try {
          if (!p->attempt.entry) {
            p->loaded = spool.load(p->id);
            if (!p->loaded) continue;  // deleted meanwhile: no states
            p->attempt.entry = &*p->loaded;
          }
        } catch (const std::exception& e) {
          log::Event("queue_error").add("queue_id", p->id).add("error", e.what());
          p->failed = true;
          continue;
        }
        attempts.push_back(std::move(p->attempt));
        owners.push_back(p.get());
      }
      try {
        recorder.record_many(*cfg, sched, attempts);
        for (std::size_t i = 0; i < owners.size(); ++i) owners[i]->attempt.states = std::move(attempts[i].states);
      } catch (const std::exception& e) {
        for (auto* o : owners) {
          log::Event("queue_error").add("queue_id", o->id).add("error", e.what());
          o->failed = true;
        }
      }
      asio::post(io, [this, batch] {
        for (auto& p : *batch) p->wake.cancel();
        --recording;
        start_recording();
      });
    });
  }

  // ------------------------------------------------------------ control

  void index_spool() {
    std::vector<std::string> ids;
    try {
      ids = spool.list();
    } catch (const std::exception& e) {
      log::Event("queue_error").add("error", e.what());
    }
    const auto now = Clock::now();
    for (auto& id : ids) {
      auto& item = items[id];
      if (!item.scheduled && item.jobs == 0) set_due(id, item, now);
    }
    indexed = items.size();
    if (!ids.empty()) log::Event("queue_index").add("messages", static_cast<long long>(ids.size()));
  }

  void take_retry_requests() {
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it(retry_dir(*config), ec), end; !ec && it != end; it.increment(ec))
      names.push_back(it->path().filename().string());
    const auto now = Clock::now();
    for (const auto& name : names) {
      fs::remove(retry_dir(*config) / name, ec);
      std::size_t count = 0;
      if (name == "all") {
        for (auto& [id, item] : items) {
          item.forced = true;
          if (item.jobs == 0) set_due(id, item, now);
        }
        count = items.size();
      } else if (store::Spool::valid_id(name)) {
        auto& item = items[name];  // maybe spooled by another process
        item.forced = true;
        if (item.jobs == 0) set_due(name, item, now);
        count = 1;
        indexed = items.size();
      } else {
        continue;
      }
      smtp.lift_backoffs();
      log::Event("queue_retry").add("request", name).add("messages", static_cast<long long>(count));
    }
  }

  // queue/retry/ is watched with inotify: a request is seen at once. Where
  // inotify is not available, the directory is looked at every
  // control_interval instead (it is almost always empty).
  std::optional<asio::posix::stream_descriptor> inotify;
  std::array<char, 4096> inotify_buffer{};

  void watch_control() {
    take_retry_requests();
    if (!inotify) {
      const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
      if (fd >= 0 && ::inotify_add_watch(fd, retry_dir(*config).c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) >= 0) {
        inotify.emplace(io, fd);
        take_retry_requests();  // one may have come before the watch
      } else if (fd >= 0) {
        ::close(fd);
      }
    }
    if (inotify) {
      inotify->async_read_some(asio::buffer(inotify_buffer), [this](asio::error_code ec, std::size_t) {
        if (!ec && !stopping) watch_control();
      });
      return;
    }
    control_timer.expires_after(options.control_interval);
    control_timer.async_wait([this](asio::error_code ec) {
      if (!ec && !stopping) watch_control();
    });
  }

  void recover_inflight() {
    try {
      store::create_directories_durably(inflight_dir(*config));
      store::create_directories_durably(retry_dir(*config));
    } catch (const store::IoError& e) {
      log::Event("queue_error").add("error", e.what());
    }
    const auto markers = take_inflight_markers(inflight_dir(*config));
    for (const auto& id : markers) log::Event("queue_recover").add("queue_id", id).add("possible_duplicate", 1);
    if (!markers.empty()) {
      possible_duplicates += markers.size();
      log::Event("queue_recover").add("possible_duplicates", static_cast<long long>(markers.size()));
    }
  }
};

Scheduler::Scheduler(std::shared_ptr<const config::Config> config, store::Spool& spool, delivery::LocalDelivery& local,
                     Inject inject, SchedulerOptions options)
    : impl_(std::make_shared<Impl>(std::move(config), spool, local, std::move(inject), options)) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  auto& i = *impl_;
  if (i.thread.joinable()) return;
  i.smtp.start(*i.config, i.schedule);
  i.recover_inflight();
  i.work.emplace(i.io.get_executor());
  Impl* impl = impl_.get();
  asio::post(i.io, [impl] {
    impl->index_spool();
    impl->watch_control();
  });
  i.thread = std::thread([impl] {
    try {
      impl->io.run();
    } catch (const std::exception& e) {
      log::Event("queue_bug").add("error", e.what());
    }
  });
  log::Event("queue_start")
      .add("retry_initial", static_cast<long long>(i.config->queue.retry_initial.count()))
      .add("retry_max", static_cast<long long>(i.config->queue.retry_max.count()))
      .add("lifetime", static_cast<long long>(i.config->queue.lifetime.count()));
}

void Scheduler::submit(const std::string& id) {
  asio::post(impl_->io, [impl = impl_.get(), id] {
    if (impl->stopping) return;
    auto& item = impl->items[id];
    impl->indexed = impl->items.size();
    if (item.jobs == 0) impl->set_due(id, item, Clock::now());
  });
}

void Scheduler::reload(std::shared_ptr<const config::Config> config) {
  asio::post(impl_->io, [impl = impl_.get(), config = std::move(config)] {
    impl->config = config;
    impl->schedule = Schedule::from(config->queue);
    impl->smtp.reload(*config, impl->schedule);
    if (impl->stopping) return;
    // Every message is looked at again under the new routes and domains.
    const auto now = Clock::now();
    for (auto& [id, item] : impl->items)
      if (item.jobs == 0) impl->set_due(id, item, now);
  });
}

void Scheduler::stop() {
  auto& i = *impl_;
  if (!i.thread.joinable()) return;
  asio::post(i.io, [impl = impl_.get()] {
    impl->stopping = true;
    impl->due_timer.cancel();
    impl->control_timer.cancel();
    if (impl->inotify) impl->inotify->close();
    impl->smtp.stop();
  });
  i.work.reset();
  // Connections and mailbox writes in progress get a moment to finish.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!i.io.stopped() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  i.io.stop();
  i.thread.join();
  i.pool.join();
}

Scheduler::Counts Scheduler::counts() const {
  auto promise = std::make_shared<std::promise<Counts>>();
  auto future = promise->get_future();
  asio::post(impl_->io, [impl = impl_.get(), promise] {
    Counts c;
    const auto now = Clock::now();
    for (const auto& [id, item] : impl->items) {
      if (item.jobs > 0) ++c.active;
      else if (!item.scheduled || item.due <= now) ++c.due;
      else ++c.deferred;
    }
    promise->set_value(c);
  });
  if (future.wait_for(std::chrono::seconds(1)) != std::future_status::ready) return {};
  return future.get();
}

QueueStats Scheduler::stats() const {
  const auto& i = *impl_;
  QueueStats s;
  s.delivered = i.recorder.delivered();
  s.deferred = i.recorder.deferred();
  s.bounced = i.recorder.bounced();
  s.dsns = i.recorder.dsns();
  s.connections = i.smtp.connections();
  s.possible_duplicates = i.possible_duplicates;
  s.indexed = i.indexed;
  return s;
}

}  // namespace postern::queue
