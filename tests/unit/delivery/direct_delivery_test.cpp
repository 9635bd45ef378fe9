#include "delivery/direct_delivery.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "delivery/maildir.hpp"
#include "store/durable_file.hpp"
#include "store/journal.hpp"
#include "../store/test_util.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using namespace store;
using store::testing::TempDir;

Envelope envelope(std::vector<std::string> rcpts) {
  Envelope e;
  e.reverse_path = "sender@remote.example";
  e.recipients = std::move(rcpts);
  e.client_address = "192.0.2.7";
  e.received_at = std::chrono::system_clock::now();
  return e;
}

struct Mailboxes {
  TempDir t;
  fs::path alice = t.path / "mail" / "alice";
  fs::path bob = t.path / "mail" / "bob";
  std::vector<std::string> files(const fs::path& box, const char* sub = "new") {
    std::vector<std::string> out;
    if (!fs::exists(box / sub)) return out;
    for (auto& e : fs::directory_iterator(box / sub)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

const std::string head = "Return-Path: <sender@remote.example>\r\n";
const std::string body = "Subject: hi\r\n\r\nhello\r\n";

class DirectDeliveryRound : public ::testing::TestWithParam<config::MailboxSync> {};

TEST_P(DirectDeliveryRound, DeliversUnderTheQueueIdNameAndRetiresAfterTheSyncRound) {
  Mailboxes m;
  DirectDelivery d(m.t.path / "journal");
  d.set_sync_policy(GetParam());
  d.recover([](const Envelope&) { return DirectDelivery::Resolution{}; },
            [](const Envelope&, std::string_view) { return std::string(); },
            [](const Journal::Entry&, const std::vector<std::size_t>&) {});
  d.start();
  auto e = envelope({"alice@example.org", "bob@example.org"});
  ASSERT_TRUE(d.deliver("0000000aaaaaaaaa", e, head, body, {{m.alice, 0}, {m.bob, 1}}));
  auto a = m.files(m.alice);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0], maildir_fixed_name(e, "0000000aaaaaaaaa", 0, head.size() + body.size()));
  EXPECT_EQ(read_file(m.alice / "new" / a[0]), head + body);
  EXPECT_EQ(m.files(m.bob).size(), 1u);
  EXPECT_TRUE(m.files(m.alice, "tmp").empty());
  d.stop();  // confirms what is pending
  EXPECT_EQ(d.unconfirmed(), 0u);
  EXPECT_EQ(d.journal().live(), 0u);
  EXPECT_GE(d.sync_rounds(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Policies, DirectDeliveryRound,
                         ::testing::Values(config::MailboxSync::automatic, config::MailboxSync::fsync,
                                           config::MailboxSync::syncfs));

TEST(DirectDelivery, AMailboxThatCannotBeWrittenDeliversNothing) {
  Mailboxes m;
  fs::create_directories(m.bob.parent_path());
  { std::ofstream(m.bob) << "a file where the Maildir should be"; }
  DirectDelivery d(m.t.path / "journal");
  d.recover([](const Envelope&) { return DirectDelivery::Resolution{}; },
            [](const Envelope&, std::string_view) { return std::string(); },
            [](const Journal::Entry&, const std::vector<std::size_t>&) {});
  d.start();
  auto e = envelope({"alice@example.org", "bob@example.org"});
  EXPECT_FALSE(d.deliver("0000000aaaaaaaaa", e, head, body, {{m.alice, 0}, {m.bob, 1}}));
  EXPECT_TRUE(m.files(m.alice).empty());
  EXPECT_TRUE(m.files(m.alice, "tmp").empty());
  EXPECT_EQ(d.journal().live(), 0u);
}

TEST(DirectDelivery, AsyncDeliveryNamesTheFilesOnlyOnceTheJournalHasTheMessage) {
  Mailboxes m;
  DirectDelivery d(m.t.path / "journal");
  d.recover([](const Envelope&) { return DirectDelivery::Resolution{}; },
            [](const Envelope&, std::string_view) { return std::string(); },
            [](const Journal::Entry&, const std::vector<std::size_t>&) {});
  d.start();
  auto e = envelope({"alice@example.org", "bob@example.org"});
  int called = 0;
  bool delivered = true;
  {
    Syscalls broken = real_syscalls();
    broken.fsync = [](int) -> int {
      errno = EIO;
      return -1;
    };
    SyscallOverride o(broken);
    d.deliver_async("0000000aaaaaaaaa", e, head, body, {{m.alice, 0}, {m.bob, 1}}, [&](bool ok) {
      ++called;
      delivered = ok;
    });
  }
  EXPECT_EQ(called, 1);
  EXPECT_FALSE(delivered) << "the journal's flush failed: spool it instead";
  EXPECT_TRUE(m.files(m.alice).empty());
  EXPECT_TRUE(m.files(m.bob).empty());
  EXPECT_TRUE(m.files(m.alice, "tmp").empty());

  std::vector<std::string> seen_at_done;
  d.deliver_async("0000000bbbbbbbbb", e, head, body, {{m.alice, 0}, {m.bob, 1}}, [&](bool ok) {
    ++called;
    delivered = ok;
    seen_at_done = m.files(m.alice);
  });
  EXPECT_EQ(called, 2);
  EXPECT_TRUE(delivered);
  EXPECT_EQ(seen_at_done.size(), 1u) << "named before the 250";
  d.stop();
  EXPECT_EQ(d.journal().live(), 0u);
}

// Messages written to their mailboxes and waiting for the journal hold
// open files: they count against the limit like unconfirmed ones, so a
// slow disk holds new deliveries back instead of piling them up.
std::atomic<bool> g_hold_fsync{false};
std::atomic<int> g_held_fsyncs{0};
int held_fsync(int fd) {
  if (g_hold_fsync) {
    ++g_held_fsyncs;
    while (g_hold_fsync) std::this_thread::yield();
  }
  return ::fsync(fd);
}

bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(DirectDelivery, MessagesWaitingForTheJournalCountAgainstTheLimit) {
  Mailboxes m;
  DirectDelivery d(m.t.path / "journal", 2);
  d.recover([](const Envelope&) { return DirectDelivery::Resolution{}; },
            [](const Envelope&, std::string_view) { return std::string(); },
            [](const Journal::Entry&, const std::vector<std::size_t>&) {});
  d.start();
  auto e = envelope({"alice@example.org"});
  ASSERT_TRUE(d.deliver("0000000000000001", e, head, body, {{m.alice, 0}}));  // the journal's segment is open
  ASSERT_TRUE(eventually([&] { return d.unconfirmed() == 0; }));

  Syscalls slow = real_syscalls();
  slow.fsync = held_fsync;
  SyscallOverride o(slow);
  g_hold_fsync = true;
  std::atomic<int> delivered{0};
  auto count = [&](bool ok) { delivered += ok ? 1 : 100; };
  std::thread first([&] { d.deliver_async("0000000000000002", e, head, body, {{m.alice, 0}}, count); });
  ASSERT_TRUE(eventually([] { return g_held_fsyncs >= 1; }));  // its flush is on the disk
  d.deliver_async("0000000000000003", e, head, body, {{m.alice, 0}}, count);  // joins the next flush
  std::atomic<bool> third_returned{false};
  std::thread third([&] {
    d.deliver_async("0000000000000004", e, head, body, {{m.alice, 0}}, count);
    third_returned = true;
  });
  // Two are in flight: the third waits for room (a window, not a proof; the old code returned at once).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(third_returned) << "a third message went in while two waited for the journal";
  EXPECT_EQ(delivered, 0);
  g_hold_fsync = false;
  first.join();
  third.join();
  EXPECT_TRUE(eventually([&] { return delivered == 3; })) << delivered;
  d.stop();
  EXPECT_EQ(m.files(m.alice).size(), 4u);
}

// A crash after the journal's flush and before the syncfs: whatever state
// the mailbox files are in, recovery leaves exactly one intact copy each.
TEST(DirectDelivery, RecoveryCompletesMissingAndTornFilesAndKeepsIntactOnes) {
  Mailboxes m;
  auto e = envelope({"alice@example.org", "bob@example.org", "carol@remote.example"});
  const std::string id = "0000000aaaaaaaaa";
  const auto name0 = maildir_fixed_name(e, id, 0, head.size() + body.size());
  {
    Journal j(m.t.path / "journal");
    j.recover();
    j.append(id, e, body);
  }
  // alice: the reader already moved it to cur/ with flags (intact).
  ensure_maildir(m.alice);
  { std::ofstream(m.alice / "cur" / (name0 + ":2,S"), std::ios::binary) << head << body; }
  // bob: torn (the crash came before its data reached the disk).
  ensure_maildir(m.bob);
  const auto name1 = maildir_fixed_name(e, id, 1, head.size() + body.size());
  { std::ofstream(m.bob / "new" / name1, std::ios::binary) << head; }

  std::vector<std::size_t> leftover;
  DirectDelivery d(m.t.path / "journal");
  auto r = d.recover(
      [&](const Envelope&) { return DirectDelivery::Resolution{{{m.alice, 0}, {m.bob, 1}}, {2}}; },
      [&](const Envelope&, std::string_view) { return head; },
      [&](const Journal::Entry& entry, const std::vector<std::size_t>& rest) {
        EXPECT_EQ(entry.id, id);
        leftover = rest;
      });
  EXPECT_EQ(r.messages, 1u);
  EXPECT_EQ(r.rewritten, 1u);
  EXPECT_EQ(leftover, std::vector<std::size_t>{2});  // carol is the spool's now
  EXPECT_TRUE(m.files(m.alice).empty());
  EXPECT_EQ(m.files(m.alice, "cur").size(), 1u);
  ASSERT_EQ(m.files(m.bob).size(), 1u);
  EXPECT_EQ(read_file(m.bob / "new" / name1), head + body);
  EXPECT_EQ(d.journal().live(), 0u);

  // A second start finds nothing to do.
  DirectDelivery again(m.t.path / "journal");
  auto r2 = again.recover([&](const Envelope&) { return DirectDelivery::Resolution{}; },
                          [&](const Envelope&, std::string_view) { return head; },
                          [&](const Journal::Entry&, const std::vector<std::size_t>&) { ADD_FAILURE(); });
  EXPECT_EQ(r2.messages, 0u);
}

TEST(DirectDelivery, RecoveryKeepsTheMessageWhenTheSpoolRefusesTheRest) {
  Mailboxes m;
  auto e = envelope({"carol@remote.example"});
  {
    Journal j(m.t.path / "journal");
    j.recover();
    j.append("0000000aaaaaaaaa", e, body);
  }
  {
    DirectDelivery d(m.t.path / "journal");
    d.recover([](const Envelope&) { return DirectDelivery::Resolution{{}, {0}}; },
              [](const Envelope&, std::string_view) { return head; },
              [](const Journal::Entry&, const std::vector<std::size_t>&) { throw IoError(ENOSPC, "spool"); });
    EXPECT_EQ(d.journal().live(), 1u);
  }
  DirectDelivery d(m.t.path / "journal");
  int calls = 0;
  d.recover([](const Envelope&) { return DirectDelivery::Resolution{{}, {0}}; },
            [](const Envelope&, std::string_view) { return head; },
            [&](const Journal::Entry&, const std::vector<std::size_t>&) { ++calls; });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace postern::delivery
