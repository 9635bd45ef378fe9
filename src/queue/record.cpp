#include "queue/record.hpp"

#include <algorithm>

#include "client/retry.hpp"
#include "log/log.hpp"

namespace postern::queue {

using store::RecipientStatus;

namespace {

void explain_to(DsnRecipient& d, const Outcome& o) {
  auto a = o.advice();
  d.explanation = std::move(a.meaning);
  d.when = std::move(a.when);
  d.fix = std::move(a.fix);
}

}  // namespace

bool Recorder::send_dsn(const config::Config& config, const store::SpoolEntry& entry,
                        const std::vector<DsnRecipient>& recipients) {
  if (!is_bounceable(entry.envelope.reverse_path)) {
    // RFC 5321 §4.5.5: never a bounce to the null reverse-path.
    log::Event("dsn_suppressed").add("queue_id", entry.id).add("reason", "null reverse-path");
    return true;
  }
  DsnReport report;
  report.reporting_mta = config.hostname;
  report.queue_id = entry.id;
  report.original_sender = entry.envelope.reverse_path;
  report.arrival = entry.envelope.received_at;
  report.now = Clock::now();
  report.recipients = recipients;
  try {
    if (auto message = spool_.message(entry.id)) report.original_message = std::move(*message);
    store::Envelope env;
    env.recipients = {entry.envelope.reverse_path};
    env.client_address = "127.0.0.1";
    env.client_helo = config.hostname;
    env.received_at = report.now;
    const std::string dsn_id = inject_(env, build_dsn(report));
    ++dsns_;
    log::Event("dsn")
        .add("queue_id", entry.id)
        .add("dsn_queue_id", dsn_id)
        .add("to", "<" + entry.envelope.reverse_path + ">")
        .add("action", recipients.front().action == DsnAction::delayed ? "delayed" : "failed")
        .add("recipients", static_cast<long long>(recipients.size()));
    return true;
  } catch (const std::exception& e) {
    log::Event("dsn_error").add("queue_id", entry.id).add("error", e.what());
    return false;
  }
}

std::optional<std::vector<store::RecipientState>> Recorder::record(const config::Config& config,
                                                                   const Schedule& schedule,
                                                                   const store::SpoolEntry& loaded,
                                                                   const std::vector<std::size_t>& rcpts,
                                                                   std::vector<Outcome> outcomes,
                                                                   Transport transport, double uniform) {
  std::vector<Attempt> one(1);
  one[0].entry = &loaded;
  one[0].rcpts = &rcpts;
  one[0].outcomes = std::move(outcomes);
  one[0].transport = transport;
  one[0].uniform = uniform;
  record_many(config, schedule, one);
  return std::move(one[0].states);
}

void Recorder::record_many(const config::Config& config, const Schedule& schedule, std::vector<Attempt>& attempts) {
  const auto now = Clock::now();
  std::vector<bool> removed(attempts.size(), false);
  bool any_removed = false;
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    removed[i] = apply(config, schedule, attempts[i], now);
    any_removed = any_removed || removed[i];
  }
  if (any_removed) {
    try {
      spool_.sync_removals();
    } catch (const std::exception& e) {
      // Removed, but not known to stay removed: looked at again in a few
      // seconds (gone by then, or delivered again: a duplicate, never a loss).
      for (std::size_t i = 0; i < attempts.size(); ++i) {
        if (!removed[i]) continue;
        auto& a = attempts[i];
        log::Event("queue_error").add("queue_id", a.entry->id).add("error", e.what());
        auto as_was = a.entry->recipients;
        for (auto r : *a.rcpts) {
          as_was.at(r).status = RecipientStatus::deferred;
          as_was.at(r).next_attempt = now + std::chrono::seconds(5);
        }
        a.states = std::move(as_was);
      }
    }
  }
  for (auto& a : attempts) report(a, now);
}

// DSNs first, then the states; true when the entry was removed (unsynced).
bool Recorder::apply(const config::Config& config, const Schedule& schedule, Attempt& a, Clock::time_point now) {
  const store::SpoolEntry* entry = a.entry;
  const std::string& id = entry->id;
  const auto& rcpts = *a.rcpts;
  auto& outcomes = a.outcomes;
  const auto transport = a.transport;
  const double uniform = a.uniform;
  const auto arrival = entry->envelope.received_at;
  std::vector<DsnRecipient> bounces;
  for (std::size_t k = 0; k < rcpts.size(); ++k) {
    auto& o = outcomes[k];
    if (o.kind == Outcome::Kind::deferred && schedule.expired(arrival, now)) {
      // RFC 3463 4.4.7: delivery time expired.
      o.kind = Outcome::Kind::bounced;
      o.status = "4.4.7";
      o.reason = o.summary() + " (gave up after " +
                 client::describe(std::chrono::duration_cast<std::chrono::seconds>(now - arrival)) + ")";
      o.reply.reset();
    }
    if (o.kind != Outcome::Kind::bounced) continue;
    DsnRecipient d;
    d.address = entry->recipients.at(rcpts[k]).address;
    d.action = DsnAction::failed;
    d.status = o.status.empty() ? "5.0.0" : o.status;
    d.remote_mta = o.reply ? o.remote_mta : "";
    d.diagnostic = o.summary();
    d.diagnostic_is_smtp = o.reply.has_value();
    explain_to(d, o);
    d.last_attempt = now;
    bounces.push_back(std::move(d));
  }
  if (!bounces.empty() && !send_dsn(config, *entry, bounces)) {
    // The report could not be stored: those recipients stay deferred.
    for (auto& o : outcomes)
      if (o.kind == Outcome::Kind::bounced) o.kind = Outcome::Kind::deferred;
  }
  // [queue] delay_warning: one "delayed" DSN per recipient still deferred
  // that long after arrival (RFC 3464 Action: delayed; Postfix's
  // delay_warning_time).
  std::vector<std::size_t> warned;
  if (schedule.delay_warning.count() > 0 && now - arrival >= schedule.delay_warning) {
    std::vector<DsnRecipient> delayed;
    for (std::size_t k = 0; k < rcpts.size(); ++k) {
      const auto& o = outcomes[k];
      const auto& r = entry->recipients.at(rcpts[k]);
      if (o.kind != Outcome::Kind::deferred || r.delay_warned) continue;
      DsnRecipient d;
      d.address = r.address;
      d.action = DsnAction::delayed;
      d.status = o.status.empty() || o.status[0] != '4' ? "4.0.0" : o.status;
      d.remote_mta = o.reply ? o.remote_mta : "";
      d.diagnostic = o.summary();
      d.diagnostic_is_smtp = o.reply.has_value();
      explain_to(d, o);
      d.last_attempt = now;
      d.will_retry_until = arrival + schedule.lifetime;
      delayed.push_back(std::move(d));
      warned.push_back(rcpts[k]);
    }
    if (!delayed.empty() && !send_dsn(config, *entry, delayed)) warned.clear();  // tried again next time
  }
  auto& states = a.states;
  bool removed = false;
  try {
    states = spool_.update_unsynced(*entry, [&](std::vector<store::RecipientState>& s) {
      for (std::size_t k = 0; k < rcpts.size(); ++k) {
        auto& st = s.at(rcpts[k]);
        const auto& o = outcomes[k];
        if (st.final()) continue;  // finished meanwhile by someone else
        st.last_reply = o.summary();
        st.last_attempt = now;
        ++st.attempts;
        switch (o.kind) {
          case Outcome::Kind::delivered: st.status = RecipientStatus::delivered; break;
          case Outcome::Kind::bounced: st.status = RecipientStatus::bounced; break;
          case Outcome::Kind::deferred:
            st.status = RecipientStatus::deferred;
            if (std::find(warned.begin(), warned.end(), rcpts[k]) != warned.end()) st.delay_warned = true;
            st.next_attempt = transport == Transport::local
                                  ? schedule.next_local_attempt(st.attempts, arrival, now)
                                  : schedule.next_attempt(st.attempts, st.last_reply, arrival, now, uniform);
            break;
        }
      }
    }, removed);
  } catch (const std::exception& e) {
    log::Event("queue_error").add("queue_id", id).add("error", e.what());
    // Stored as it was; the scheduler looks again in a few seconds.
    auto as_was = entry->recipients;
    for (auto i : rcpts) {
      as_was.at(i).status = RecipientStatus::deferred;
      as_was.at(i).next_attempt = now + std::chrono::seconds(5);
    }
    states = std::move(as_was);
    return false;
  }
  return removed;
}

void Recorder::report(Attempt& a, Clock::time_point now) {
  const store::SpoolEntry* entry = a.entry;
  const std::string& id = entry->id;
  const auto& rcpts = *a.rcpts;
  const auto& outcomes = a.outcomes;
  const auto transport = a.transport;
  const auto arrival = entry->envelope.received_at;
  auto& states = a.states;
  for (std::size_t k = 0; k < rcpts.size(); ++k) {
    const auto& o = outcomes[k];
    const auto* st = states ? &states->at(rcpts[k]) : nullptr;
    log::Event ev("delivery");
    ev.add("queue_id", id).add("to", "<" + entry->recipients.at(rcpts[k]).address + ">");
    if (!o.remote_mta.empty()) ev.add("relay", o.remote_mta);
    ev.add("status", o.kind == Outcome::Kind::bounced    ? "bounced"
                     : o.kind == Outcome::Kind::deferred ? "deferred"
                     : transport == Transport::local     ? "delivered"
                                                         : "sent");
    if (st) ev.add("attempts", static_cast<long long>(st->attempts));
    ev.add("reply", o.summary());
    if (o.kind == Outcome::Kind::deferred && st)
      ev.add("retry_in", static_cast<long long>(
                             std::chrono::duration_cast<std::chrono::seconds>(st->next_attempt - now).count()));
    ev.emit();
    ++(o.kind == Outcome::Kind::delivered ? delivered_ : o.kind == Outcome::Kind::bounced ? bounced_ : deferred_);
    if (metrics_) {
      const std::string via = transport == Transport::local ? "local" : "smtp";
      metrics_->add("postern_delivery_attempts_total",
                    {{"transport", via},
                     {"status", o.kind == Outcome::Kind::delivered  ? "delivered"
                                : o.kind == Outcome::Kind::bounced ? "bounced"
                                                                   : "deferred"}});
      if (o.kind == Outcome::Kind::delivered)
        metrics_->observe("postern_delivery_seconds", std::chrono::duration<double>(now - arrival).count(),
                          {{"transport", via}});
    }
  }
  if (states && observer_) observer_(id, *states);
  if (states && std::all_of(states->begin(), states->end(), [](const auto& s) { return s.final(); })) {
    // All delivered: update() removed it. Bounces too: their DSN is stored.
    if (std::any_of(states->begin(), states->end(), [](const auto& s) { return s.status == RecipientStatus::bounced; }))
      finish(id);
    states.reset();
  }
}

void Recorder::finish(const std::string& id) {
  try {
    spool_.remove(id);
  } catch (const std::exception& e) {
    log::Event("queue_error").add("queue_id", id).add("error", e.what());
  }
}

}  // namespace postern::queue
