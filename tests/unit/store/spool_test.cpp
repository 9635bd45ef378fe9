#include "store/spool.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <cerrno>
#include <set>
#include <thread>
#include <unordered_set>

#include "store/durable_file.hpp"
#include "test_util.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

Envelope sample_envelope() {
  Envelope e;
  e.reverse_path = "sender@example.net";
  e.recipients = {"alice@example.org", "bob@remote.example", "weird \n\"name\"@example.org"};
  e.client_address = "127.0.0.1";
  e.client_helo = "client.example.net";
  e.auth_identity = "";
  e.body_type = "8BITMIME";
  e.smtputf8 = true;
  e.received_at = std::chrono::system_clock::time_point(std::chrono::microseconds(1700000000123456));
  return e;
}

const std::string sample_message = "Subject: hi\r\n\r\nbody\r\nEND 0\n.\r\n";

TEST(Spool, PutLoadRoundTrip) {
  TempDir t;
  Spool spool(t.path / "spool");
  auto id = spool.put(sample_envelope(), sample_message);
  EXPECT_TRUE(Spool::valid_id(id)) << id;
  auto e = spool.load(id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, id);
  EXPECT_EQ(e->envelope.reverse_path, "sender@example.net");
  EXPECT_EQ(e->envelope.recipients, sample_envelope().recipients);
  EXPECT_EQ(e->envelope.client_helo, "client.example.net");
  EXPECT_EQ(e->envelope.body_type, "8BITMIME");
  EXPECT_TRUE(e->envelope.smtputf8);
  EXPECT_EQ(e->envelope.received_at, sample_envelope().received_at);
  EXPECT_EQ(e->message_size, sample_message.size());
  ASSERT_EQ(e->recipients.size(), 3u);
  for (auto& r : e->recipients) EXPECT_EQ(r.status, RecipientStatus::pending);
  EXPECT_EQ(spool.message(id), sample_message);
  EXPECT_EQ(spool.list(), std::vector<std::string>{id});
  EXPECT_FALSE(e->envelope.any_sender);
}

// Root's sendmail may send as anyone (SPEC §11): the mark survives the spool.
TEST(Spool, AnySenderMarkRoundTrips) {
  TempDir t;
  Spool spool(t.path / "spool");
  auto env = sample_envelope();
  env.auth_identity = "root";
  env.any_sender = true;
  auto e = spool.load(spool.put(env, sample_message));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->envelope.auth_identity, "root");
  EXPECT_TRUE(e->envelope.any_sender);
}

TEST(Spool, NullSenderAndEmptyMessage) {
  TempDir t;
  Spool spool(t.path);
  Envelope e;
  e.recipients = {"a@example.org"};
  auto id = spool.put(e, "");
  auto got = spool.load(id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->envelope.reverse_path, "");
  EXPECT_EQ(spool.message(id), "");
}

// 300,000 ids in a few seconds (more than a busy server makes): none
// repeats. With 8 random hex digits, about ten pairs would have.
TEST(Spool, NewIdsDoNotRepeat) {
  std::unordered_set<std::string> seen;
  std::unordered_set<std::string> tails;
  for (int i = 0; i < 300000; ++i) {
    const std::string id = Spool::new_id();
    ASSERT_TRUE(Spool::valid_id(id)) << id;
    ASSERT_TRUE(seen.insert(id).second) << "repeated: " << id << " after " << i;
    ASSERT_TRUE(tails.insert(id.substr(8)).second) << "repeated low half: " << id << " after " << i;
  }
}

TEST(Spool, PutUnderChosenId) {
  TempDir t;
  Spool spool(t.path);
  const std::string id = Spool::new_id();
  EXPECT_TRUE(Spool::valid_id(id)) << id;
  EXPECT_EQ(spool.put(sample_envelope(), sample_message, id), id);
  EXPECT_EQ(spool.message(id), sample_message);
  // A taken id is never overwritten: the caller gets an error (a 451), the first message stays.
  try {
    spool.put(sample_envelope(), "other", id);
    FAIL() << "a taken id was accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("link"), std::string::npos) << e.what();
  }
  EXPECT_EQ(spool.message(id), sample_message);
  EXPECT_THROW(spool.put(sample_envelope(), "x", "../evil"), std::invalid_argument);
  EXPECT_EQ(spool.list(), std::vector<std::string>{id});
}

TEST(Spool, RefusesNoRecipients) {
  TempDir t;
  Spool spool(t.path);
  EXPECT_THROW(spool.put(Envelope{}, "x"), std::invalid_argument);
  EXPECT_TRUE(spool.list().empty());
}

TEST(Spool, UpdateKeepsStateWithMessage) {
  TempDir t;
  Spool spool(t.path);
  auto id = spool.put(sample_envelope(), sample_message);
  auto next = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
  auto states = spool.update(id, [&](std::vector<RecipientState>& s) {
    s[0].status = RecipientStatus::delivered;
    s[1].status = RecipientStatus::deferred;
    s[1].attempts = 2;
    s[1].last_reply = "450 4.2.1 Mailbox temporarily unavailable\nsecond line";
    s[1].next_attempt = next;
    s[2].status = RecipientStatus::bounced;
    s[2].last_reply = "550 5.1.1 No such user";
  });
  ASSERT_TRUE(states);
  // A fresh Spool object (as after a restart) sees the same.
  Spool again(t.path);
  auto e = again.load(id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->recipients[0].status, RecipientStatus::delivered);
  EXPECT_EQ(e->recipients[1].status, RecipientStatus::deferred);
  EXPECT_EQ(e->recipients[1].attempts, 2u);
  EXPECT_EQ(e->recipients[1].last_reply, "450 4.2.1 Mailbox temporarily unavailable\nsecond line");
  EXPECT_EQ(e->recipients[1].next_attempt, next);
  EXPECT_EQ(e->recipients[2].status, RecipientStatus::bounced);
  EXPECT_EQ(e->recipients[2].address, sample_envelope().recipients[2]);
}

TEST(Spool, UpdateCannotChangeAddressesOrCount) {
  TempDir t;
  Spool spool(t.path);
  auto id = spool.put(sample_envelope(), sample_message);
  auto s = spool.update(id, [](auto& s) { s[0].address = "evil@example.org"; });
  EXPECT_EQ((*s)[0].address, "alice@example.org");
  EXPECT_THROW(spool.update(id, [](auto& s) { s.pop_back(); }), std::logic_error);
  EXPECT_FALSE(spool.update("0123456789abcdef", [](auto&) {}));
}

TEST(Spool, RemoveDeletesEverything) {
  TempDir t;
  Spool spool(t.path);
  auto id = spool.put(sample_envelope(), sample_message);
  spool.update(id, [](auto& s) { s[0].status = RecipientStatus::delivered; });
  spool.remove(id);
  EXPECT_FALSE(spool.load(id));
  EXPECT_TRUE(spool.list().empty());
  EXPECT_TRUE(fs::is_empty(t.path));
  spool.remove(id);  // absent: fine
}

TEST(Spool, IdsAreUniqueUnderConcurrency) {
  TempDir t;
  Spool spool(t.path);
  std::vector<std::thread> threads;
  std::mutex m;
  std::set<std::string> ids;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 25; ++j) {
        auto id = spool.put(sample_envelope(), sample_message + std::to_string(j));
        std::lock_guard l(m);
        ids.insert(id);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(spool.list().size(), 200u);
  // Group commit: never more directory fsyncs than messages.
  EXPECT_LE(spool.dir_syncs(), 200u);
  EXPECT_GE(spool.dir_syncs(), 1u);
}

TEST(Spool, ConcurrentUpdatesAreSerialised) {
  TempDir t;
  Spool spool(t.path);
  auto id = spool.put(sample_envelope(), sample_message);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) spool.update(id, [](auto& s) { ++s[1].attempts; });
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(spool.load(id)->recipients[1].attempts, 40u);
}

int fail_fsync(int) {
  errno = EIO;
  return -1;
}
std::atomic<int> fsyncs{0};
int fail_second_fsync(int fd) {
  // The first fsync (the file) works, the second (the directory) fails.
  if (++fsyncs == 2) {
    errno = EIO;
    return -1;
  }
  return ::fsync(fd);
}
int fail_link(const char*, const char*) {
  errno = ENOSPC;
  return -1;
}

TEST(Spool, PutFailuresLeaveNothing) {
  struct Case {
    const char* name;
    int (*fsync)(int);
    int (*link)(const char*, const char*);
  };
  for (const Case& c : {Case{"file fsync", fail_fsync, nullptr}, Case{"dir fsync", fail_second_fsync, nullptr},
                        Case{"link", nullptr, fail_link}}) {
    TempDir t;
    Spool spool(t.path);
    auto s = real_syscalls();
    if (c.fsync) s.fsync = c.fsync;
    if (c.link) s.link = c.link;
    fsyncs = 0;
    {
      SyscallOverride o(s);
      EXPECT_THROW(spool.put(sample_envelope(), sample_message), IoError) << c.name;
    }
    EXPECT_TRUE(fs::is_empty(t.path)) << c.name;
    EXPECT_TRUE(spool.list().empty()) << c.name;
  }
}

TEST(SpoolWriter, StreamsInPiecesAndReadsBackAsPut) {
  TempDir t;
  Spool spool(t.path);
  const std::string id = Spool::new_id();
  {
    Spool::Writer w(spool, sample_envelope(), id);
    for (std::size_t i = 0; i < sample_message.size(); i += 5) w.append(std::string_view(sample_message).substr(i, 5));
    EXPECT_TRUE(spool.list().empty()) << "invisible until committed";
    EXPECT_EQ(w.commit(), id);
  }
  auto e = spool.load(id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message_size, sample_message.size());
  EXPECT_EQ(*spool.message(id), sample_message);
  EXPECT_EQ(e->envelope.recipients, sample_envelope().recipients);
}

TEST(SpoolWriter, PrependPutsAHeaderBeforeWhatWasWritten) {
  TempDir t;
  Spool spool(t.path);
  const std::string id = Spool::new_id();
  const std::string big(200 * 1024, 'x');  // more than one copy buffer
  {
    Spool::Writer w(spool, sample_envelope(), id);
    w.append(sample_message);
    w.append(big);
    w.prepend("Authentication-Results: mx.example.org; none\r\n");
    w.append("tail\r\n");
    EXPECT_EQ(w.commit(), id);
  }
  const std::string want = "Authentication-Results: mx.example.org; none\r\n" + sample_message + big + "tail\r\n";
  EXPECT_EQ(*spool.message(id), want);
  EXPECT_EQ(spool.load(id)->message_size, want.size());
  std::size_t files = 0;
  for (auto& e : fs::directory_iterator(t.path)) files += e.path().filename().string().front() == '.' ? 100 : 1;
  EXPECT_EQ(files, 1u) << "no temporary file is left behind";
}

TEST(SpoolWriter, AbandonedOrFailedLeavesNothing) {
  TempDir t;
  Spool spool(t.path);
  {
    Spool::Writer w(spool, sample_envelope(), Spool::new_id());
    w.append("half a message");
  }
  EXPECT_TRUE(fs::is_empty(t.path)) << "a writer dropped without commit() removes its file";
  auto s = real_syscalls();
  s.write = [](int, const void*, size_t) -> ssize_t {
    errno = ENOSPC;
    return -1;
  };
  Spool::Writer w(spool, sample_envelope(), Spool::new_id());
  {
    SyscallOverride o(s);
    try {
      w.append("no room for this");
      FAIL() << "append should throw";
    } catch (const IoError& e) {
      EXPECT_EQ(e.code().value(), ENOSPC);
    }
  }
  EXPECT_TRUE(fs::is_empty(t.path)) << "the space goes back at once";
  EXPECT_THROW(w.commit(), IoError);
  EXPECT_TRUE(spool.list().empty());
}

TEST(Spool, UpdateFailureKeepsOldState) {
  TempDir t;
  Spool spool(t.path);
  auto id = spool.put(sample_envelope(), sample_message);
  spool.update(id, [](auto& s) { s[0].attempts = 1; });
  {
    auto s = real_syscalls();
    s.fsync = fail_fsync;
    SyscallOverride o(s);
    EXPECT_THROW(spool.update(id, [](auto& s) { s[0].attempts = 2; }), IoError);
  }
  EXPECT_EQ(spool.load(id)->recipients[0].attempts, 1u);
}

TEST(Spool, TruncatedFilesAreDiscarded) {
  TempDir t;
  Spool spool(t.path);
  auto id = spool.put(sample_envelope(), sample_message);
  auto path = t.path / (id + ".msg");
  auto full = read_file(path);
  // Every proper prefix of the file is recognised as incomplete.
  for (std::size_t n = 0; n < full.size(); ++n) {
    ::truncate(path.c_str(), static_cast<off_t>(n));
    EXPECT_FALSE(spool.load(id)) << "prefix " << n;
    EXPECT_FALSE(spool.message(id)) << "prefix " << n;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << full;
  }
  EXPECT_TRUE(spool.load(id));
  // Trailing garbage too.
  write_durably(path, full + "x");
  EXPECT_FALSE(spool.load(id));
  write_durably(path, full);
}

TEST(Spool, RecoverRemovesPartialsAndOrphans) {
  TempDir t;
  Spool spool(t.path);
  auto good = spool.put(sample_envelope(), sample_message);
  auto bad = spool.put(sample_envelope(), sample_message);
  auto full = read_file(t.path / (bad + ".msg"));
  write_durably(t.path / (bad + ".msg"), full.substr(0, full.size() - 3));
  write_durably(t.path / ".0011223344.tmp", "partial");
  write_durably(t.path / "aaaaaaaaaaaaaaaa.state", "POSTERN-STATE 1\nEND 16\n");
  write_durably(t.path / "README", "foreign files are left alone");
  EXPECT_EQ(spool.list(), std::vector<std::string>{good});
  EXPECT_EQ(spool.recover(), 3u);
  EXPECT_TRUE(fs::exists(t.path / (good + ".msg")));
  EXPECT_TRUE(fs::exists(t.path / "README"));
  EXPECT_FALSE(fs::exists(t.path / (bad + ".msg")));
}

TEST(Spool, CorruptStateMeansPendingNotLost) {
  TempDir t;
  Spool spool(t.path);
  auto id = spool.put(sample_envelope(), sample_message);
  spool.update(id, [](auto& s) { s[0].status = RecipientStatus::delivered; });
  auto state = read_file(t.path / (id + ".state"));
  write_durably(t.path / (id + ".state"), state.substr(0, state.size() - 2));
  auto e = spool.load(id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->recipients[0].status, RecipientStatus::pending);
}

// The queue's one read per attempt: what load() and message() say, from one open.
TEST(Spool, LoadWithMessageIsLoadAndMessage) {
  TempDir t;
  Spool spool(t.path / "spool");
  auto id = spool.put(sample_envelope(), sample_message);
  spool.update(id, [](std::vector<RecipientState>& s) {
    s[1].status = RecipientStatus::deferred;
    s[1].delay_warned = true;
  });
  auto both = spool.load_with_message(id);
  ASSERT_TRUE(both);
  auto e = spool.load(id);
  EXPECT_EQ(both->first.envelope.recipients, e->envelope.recipients);
  EXPECT_EQ(both->first.envelope.received_at, e->envelope.received_at);
  EXPECT_EQ(both->first.message_size, sample_message.size());
  EXPECT_EQ(both->second, sample_message);
  EXPECT_EQ(both->first.recipients[1].status, RecipientStatus::deferred);
  EXPECT_TRUE(both->first.recipients[1].delay_warned);
  // Without the states every recipient looks pending; the envelope is the same.
  auto bare = spool.load_with_message(id, false);
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->first.recipients[1].status, RecipientStatus::pending);
  EXPECT_EQ(bare->first.recipients[1].address, "bob@remote.example");
  EXPECT_EQ(bare->second, sample_message);
  // A message larger than one read still comes back whole.
  const std::string big(3 * 1024 * 1024, 'x');
  auto big_id = spool.put(sample_envelope(), big);
  auto b = spool.load_with_message(big_id);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->second, big);
  EXPECT_FALSE(spool.load_with_message("0123456789abcdef"));
  EXPECT_FALSE(spool.load_with_message("../etc/passwd"));
  // Torn: nullopt, as load() says.
  {
    const auto path = t.path / "spool" / (id + ".msg");
    const auto size = fs::file_size(path);
    fs::resize_file(path, size - 3);
  }
  EXPECT_FALSE(spool.load_with_message(id));
  EXPECT_FALSE(spool.load(id));
}

// Many finished entries, one directory fsync: update_unsynced() removes
// without syncing, sync_removals() syncs once for all of them.
TEST(Spool, UnsyncedRemovalsShareOneSync) {
  TempDir t;
  Spool spool(t.path / "spool");
  Envelope env = sample_envelope();
  env.recipients = {"bob@remote.example"};
  std::vector<SpoolEntry> entries;
  for (int i = 0; i < 5; ++i) entries.push_back(*spool.load(spool.put(env, sample_message)));
  const auto before = spool.dir_syncs();
  for (auto& e : entries) {
    bool removed = false;
    auto states = spool.update_unsynced(e, [](std::vector<RecipientState>& s) {
      s[0].status = RecipientStatus::delivered;
    }, removed);
    ASSERT_TRUE(states);
    EXPECT_TRUE(removed);
    EXPECT_FALSE(spool.load(e.id));
  }
  EXPECT_EQ(spool.dir_syncs(), before);
  spool.sync_removals();
  EXPECT_EQ(spool.dir_syncs(), before + 1);
  EXPECT_TRUE(spool.list().empty());
}

TEST(Spool, UnsyncedUpdateKeepsStatesAndSeesDeletions) {
  TempDir t;
  Spool spool(t.path / "spool");
  auto id = spool.put(sample_envelope(), sample_message);
  const auto loaded = *spool.load(id);
  // Another consumer finished its recipient meanwhile: kept, not overwritten.
  spool.update(id, [](std::vector<RecipientState>& s) { s[0].status = RecipientStatus::delivered; });
  bool removed = true;
  auto states = spool.update_unsynced(loaded, [](std::vector<RecipientState>& s) {
    s[1].status = RecipientStatus::deferred;
    s[1].last_reply = "450 4.2.1 busy";
  }, removed);
  ASSERT_TRUE(states);
  EXPECT_FALSE(removed);
  auto again = spool.load(id);
  EXPECT_EQ(again->recipients[0].status, RecipientStatus::delivered);
  EXPECT_EQ(again->recipients[1].status, RecipientStatus::deferred);
  EXPECT_EQ(again->recipients[1].last_reply, "450 4.2.1 busy");
  // `postern queue delete` meanwhile: nothing is written back.
  spool.remove(id);
  EXPECT_FALSE(spool.update_unsynced(loaded, [](std::vector<RecipientState>& s) {
    s[2].status = RecipientStatus::delivered;
  }, removed));
  EXPECT_FALSE(fs::exists(t.path / "spool" / (id + ".state")));
  // Deleted with no state file of its own (every recipient was pending).
  auto fresh = *spool.load(spool.put(sample_envelope(), sample_message));
  spool.remove(fresh.id);
  EXPECT_FALSE(spool.update_unsynced(fresh, [](std::vector<RecipientState>&) {}, removed));
}

TEST(StateFile, RoundTripAndRejects) {
  std::vector<RecipientState> s(2);
  s[0].address = "a@b";
  s[1].address = "c@d";
  s[1].status = RecipientStatus::deferred;
  s[1].last_reply = "451 4.3.0 x";
  auto enc = encode_state_file(s);
  auto dec = decode_state_file(enc);
  ASSERT_TRUE(dec);
  EXPECT_EQ((*dec)[1].last_reply, "451 4.3.0 x");
  const std::vector<std::string> bad = {
      "", "POSTERN-STATE 1\n", "POSTERN-STATE 2\nEND 16\n", "POSTERN-STATE 1\nEND 15\n",
      "POSTERN-STATE 1\nrcpt 1 pending 0 0 0 0 0\n\nEND 42\n", "POSTERN-STATE 1\nrcpt 0 lost 0 0 0 0 0\n\nEND 42\n",
      "POSTERN-STATE 1\nrcpt 0 pending 0 0 0 99 0\n\nEND 43\n", "POSTERN-STATE 1\nEND 16\nmore"};
  for (const auto& b : bad) EXPECT_FALSE(decode_state_file(b)) << b;
  // A damaged timestamp far outside the clock's range is clamped, not undefined behaviour.
  std::string huge = "POSTERN-STATE 1\nrcpt 0 deferred 1 9223372036854775807 -9223372036854775807 1 0\na\n";
  huge += "END " + std::to_string(huge.size()) + "\n";
  auto h = decode_state_file(huge);
  ASSERT_TRUE(h);
  EXPECT_GT((*h)[0].last_attempt, std::chrono::system_clock::now());
  EXPECT_LT((*h)[0].next_attempt, std::chrono::system_clock::now());
}

// The delay-warning flag is the line's last field; files written before it
// existed (no such field) read as "not warned".
TEST(StateFile, DelayWarnedFlagAndOlderFiles) {
  std::vector<RecipientState> s(1);
  s[0].address = "a@b";
  s[0].status = RecipientStatus::deferred;
  s[0].delay_warned = true;
  auto dec = decode_state_file(encode_state_file(s));
  ASSERT_TRUE(dec);
  EXPECT_TRUE((*dec)[0].delay_warned);
  std::string older = "POSTERN-STATE 1\nrcpt 0 deferred 1 0 0 3 0\na@b\n";
  older += "END " + std::to_string(older.size()) + "\n";
  auto o = decode_state_file(older);
  ASSERT_TRUE(o);
  EXPECT_FALSE((*o)[0].delay_warned);
  std::string bad = "POSTERN-STATE 1\nrcpt 0 deferred 1 0 0 3 0 7\na@b\n";
  bad += "END " + std::to_string(bad.size()) + "\n";
  EXPECT_FALSE(decode_state_file(bad));
}

}  // namespace
}  // namespace postern::store
