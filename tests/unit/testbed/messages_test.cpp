#include "testbed/messages.hpp"

#include <gtest/gtest.h>

#include "util/ids.hpp"

namespace postern::testbed {
namespace {

struct SpoolDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("postern-testbed-" + util::random_hex(6));
  ~SpoolDir() { std::filesystem::remove_all(path); }
};

std::string put(store::Spool& spool, int n, const std::string& message) {
  store::Envelope e;
  e.reverse_path = "app@example.com";
  e.recipients = {"to" + std::to_string(n) + "@example.org"};
  e.received_at = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000 + n));
  return spool.put(e, message);
}

TEST(Messages, SubjectFromTheHeaderSectionAlone) {
  EXPECT_EQ(subject_of("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: a@b\r\n\r\nSubject: not this\r\n"), "Grüße");
  EXPECT_EQ(subject_of("From: a@b\n\nSubject: in the body\n"), "");
  EXPECT_EQ(subject_of(""), "");
}

TEST(Messages, IndexListsNewestFirstAndDropsTheOldestPastTheCap) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  const auto first = put(spool, 0, "Subject: kept before the start\r\n\r\nx\r\n");
  Messages messages(spool, 3);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages.list().at(0).subject, "kept before the start");
  std::vector<std::string> ids{first};
  for (int n = 1; n <= 4; ++n) {
    ids.push_back(put(spool, n, "Subject: number " + std::to_string(n) + "\r\n\r\nbody\r\n"));
    const auto dropped = messages.added(ids.back());
    EXPECT_EQ(dropped.size(), n >= 3 ? 1u : 0u) << n;
  }
  const auto list = messages.list();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].subject, "number 4");
  EXPECT_EQ(list[2].subject, "number 2");
  EXPECT_EQ(list[0].to, std::vector<std::string>{"to4@example.org"});
  EXPECT_FALSE(spool.load(ids[0])) << "dropped from the spool too";
  EXPECT_FALSE(spool.load(ids[1]));
  EXPECT_FALSE(messages.get(ids[1]));
  auto m = messages.get(ids[4]);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->parsed.text, "body\n");
  EXPECT_EQ(messages.clear(), 3u);
  EXPECT_TRUE(messages.list().empty());
  EXPECT_TRUE(spool.list().empty());
}

TEST(Messages, NoLimitWithZero) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  Messages messages(spool, 0);
  for (int n = 0; n < 5; ++n) messages.added(put(spool, n, "Subject: s\r\n\r\nx\r\n"));
  EXPECT_EQ(messages.size(), 5u);
}

std::string put_to(store::Spool& spool, int n, std::vector<std::string> to, const std::string& user,
                   const std::string& message) {
  store::Envelope e;
  e.reverse_path = "app@example.com";
  e.recipients = std::move(to);
  e.auth_identity = user;
  e.received_at = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000 + n));
  return spool.put(e, message);
}

std::vector<std::string> ids_of(const std::vector<MessageSummary>& list) {
  std::vector<std::string> out;
  for (const auto& m : list) out.push_back(m.id);
  return out;
}

TEST(Messages, InboxesOfRecipientsAndTheAuthenticatedUser) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  Messages messages(spool, 0);
  const auto a = put_to(spool, 1, {"Alice@Example.org", "bob@example.org"}, "", "Subject: a\r\n\r\nx\r\n");
  const auto b = put_to(spool, 2, {"bob@example.org"}, "Sender@Example.com", "Subject: b\r\n\r\nx\r\n");
  messages.added(a);
  messages.added(b);
  EXPECT_EQ(ids_of(messages.list("alice@example.org")), std::vector<std::string>{a});
  EXPECT_EQ(ids_of(messages.list("BOB@example.org")), (std::vector<std::string>{b, a}));
  EXPECT_EQ(ids_of(messages.list("sender@example.com")), std::vector<std::string>{b});
  EXPECT_EQ(messages.summary(b)->user, "Sender@Example.com");
  EXPECT_TRUE(messages.list("nobody@example.org").empty());
  EXPECT_EQ(messages.list().size(), 2u);
  messages.set_read({b}, true);
  const auto counts = messages.inboxes();
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts.at("bob@example.org").messages, 2u);
  EXPECT_EQ(counts.at("bob@example.org").unread, 1u);
  EXPECT_EQ(counts.at("sender@example.com").unread, 0u);

  EXPECT_FALSE(messages.remove_from_inbox(a, "sender@example.com")) << "not in that inbox";
  EXPECT_TRUE(messages.remove_from_inbox(a, "ALICE@example.org"));
  EXPECT_TRUE(messages.list("alice@example.org").empty());
  EXPECT_EQ(ids_of(messages.list("bob@example.org")), (std::vector<std::string>{b, a}));
  EXPECT_TRUE(spool.load(a)) << "still in bob's inbox";
  EXPECT_TRUE(messages.remove_from_inbox(a, "bob@example.org"));
  EXPECT_FALSE(messages.summary(a)) << "in no inbox: deleted";
  EXPECT_FALSE(spool.load(a));
  EXPECT_FALSE(messages.remove_from_inbox(a, "bob@example.org"));
  EXPECT_EQ(messages.size(), 1u);
}

TEST(Messages, ReadFlagsAndTags) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  Messages messages(spool, 0);
  const auto a = put_to(spool, 1, {"user+Orders+urgent@example.org", "greylist+60@example.org", "slow+3@x.test"}, "",
                        "From: Shop <shop+news@example.com>\r\nX-Tags: one, two ,One\r\nSubject: a\r\n\r\nx\r\n");
  const auto b = put_to(spool, 2, {"x@example.org"}, "", "Subject: b\r\n\r\nx\r\n");
  messages.added(a);
  messages.added(b);
  EXPECT_EQ(messages.summary(a)->tags, (std::vector<std::string>{"news", "one", "Orders", "two", "urgent"}));
  EXPECT_TRUE(messages.summary(b)->tags.empty());
  EXPECT_EQ(messages.unread(), 2u);
  EXPECT_EQ(messages.set_read({a, "0000000000000000"}, true), 1u);
  EXPECT_TRUE(messages.summary(a)->read);
  EXPECT_EQ(messages.unread(), 1u);
  messages.set_all_read(false);
  EXPECT_EQ(messages.unread(), 2u);

  EXPECT_EQ(messages.set_tags({b}, {"x/y", " Spaced   out ", "x y"}), 1u);
  EXPECT_EQ(messages.summary(b)->tags, (std::vector<std::string>{"Spaced out", "x y"}));
  EXPECT_EQ(messages.rename_tag("ONE", "Orders"), Messages::TagChange::exists);
  EXPECT_EQ(messages.rename_tag("nothing", "x"), Messages::TagChange::not_found);
  EXPECT_EQ(messages.rename_tag("ONE", "uno"), Messages::TagChange::done);
  EXPECT_EQ(messages.summary(a)->tags, (std::vector<std::string>{"news", "Orders", "two", "uno", "urgent"}));
  EXPECT_EQ(messages.rename_tag("two", ""), Messages::TagChange::done);
  EXPECT_EQ(messages.rename_tag("two", ""), Messages::TagChange::not_found);
  // Mailpit's NOCASE order.
  EXPECT_EQ(messages.tag_counts(), (std::vector<std::pair<std::string, std::size_t>>{
                                       {"news", 1}, {"Orders", 1}, {"Spaced out", 1}, {"uno", 1}, {"urgent", 1}, {"x y", 1}}));
}

TEST(Messages, MailpitFieldsFromTheMessage) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  Messages messages(spool, 0);
  const auto id = put_to(spool, 1, {"to@example.org", "hidden@example.org"}, "",
                         "From: \"Ann Example\" <ann@example.com>\r\nTo: To <to@example.org>\r\nCc: cc@example.org\r\n"
                         "Reply-To: r@example.com\r\nMessage-ID: <abc@example.com>\r\nSubject: Hi\r\n"
                         "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                         "--b\r\nContent-Type: text/html\r\n\r\n<p>Hello&amp;welcome <b>Ann</b></p><style>p{}</style>\r\n"
                         "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=bill.pdf\r\n"
                         "Content-Transfer-Encoding: base64\r\n\r\nUERG\r\n--b--\r\n");
  messages.added(id);
  const auto m = *messages.summary(id);
  EXPECT_EQ(m.header_from.name, "Ann Example");
  EXPECT_EQ(m.header_from.address, "ann@example.com");
  ASSERT_EQ(m.header_to.size(), 1u);
  EXPECT_EQ(m.header_to[0].name, "To");
  ASSERT_EQ(m.bcc.size(), 1u);
  EXPECT_EQ(m.bcc[0].address, "hidden@example.org") << "an envelope recipient in no field";
  EXPECT_EQ(m.reply_to.at(0).address, "r@example.com");
  EXPECT_EQ(m.message_id, "abc@example.com");
  EXPECT_EQ(m.attachments, 1u);
  EXPECT_EQ(m.snippet, "Hello&welcome Ann");
  EXPECT_NE(m.search_text->find("bill.pdf"), std::string::npos);
  EXPECT_NE(m.search_text->find("ann example"), std::string::npos);
  auto part = mime::part_content(*messages.raw(id), "2");
  ASSERT_TRUE(part);
  EXPECT_EQ(part->bytes, "PDF");
  EXPECT_EQ(part->filename, "bill.pdf");
  EXPECT_EQ(part->content_type, "application/pdf");
  EXPECT_FALSE(mime::part_content(*messages.raw(id), "3"));
}

TEST(Messages, PagesOfWhatAPredicateChooses) {
  SpoolDir dir;
  store::Spool spool(dir.path);
  Messages messages(spool, 0);
  std::vector<std::string> ids;
  for (int n = 0; n < 5; ++n) {
    ids.push_back(put(spool, n, "Subject: s" + std::to_string(n) + "\r\n\r\nx\r\n"));
    messages.added(ids.back());
  }
  messages.set_read({ids[4]}, true);
  const auto odd = [](const MessageSummary& m) { return (m.subject.back() - '0') % 2 == 0; };  // s0, s2, s4
  auto page = messages.find(odd, 1, 1);
  EXPECT_EQ(page.matched, 3u);
  EXPECT_EQ(page.matched_unread, 2u);
  EXPECT_EQ(ids_of(page.messages), std::vector<std::string>{ids[2]});
  EXPECT_TRUE(messages.find(odd, 3, 10).messages.empty());
  EXPECT_EQ(messages.ids(odd), (std::vector<std::string>{ids[4], ids[2], ids[0]}));
  EXPECT_EQ(messages.latest(), ids[4]);
  EXPECT_TRUE(messages.remove(ids[4]));
  EXPECT_FALSE(messages.remove(ids[4]));
  EXPECT_EQ(messages.latest(), ids[3]);
  EXPECT_EQ(messages.deleted(), 1u);
  EXPECT_EQ(messages.accepted(), 5u);
}

TEST(Messages, TheIndexEntryIsBoundedWhateverTheHeader) {
  store::Envelope e;
  e.recipients = {"a@example.org"};
  std::string to = "To: ";
  for (int i = 0; i < 1000; ++i) to += (i ? ", r" : "r") + std::to_string(i) + "@example.org";
  const auto m = summarize_message(to + "\r\nSubject: " + std::string(10000, 's') + "\r\n\r\nx\r\n", e);
  EXPECT_EQ(m.header_to.size(), 200u);
  EXPECT_EQ(m.subject.size(), 4096u);
  EXPECT_EQ(m.bcc.size(), 1u) << "a@example.org is in no field";
}

TEST(Tags, CleanedAsMailpitDoes) {
  EXPECT_EQ(clean_tag("  a!b  c "), "a b c");
  EXPECT_EQ(clean_tag("%%%"), "");
  EXPECT_EQ(clean_tag(std::string(150, 'x')).size(), 100u);
  EXPECT_EQ(sorted_unique_tags({"b", "A", "a", "", "!"}), (std::vector<std::string>{"A", "b"}));
  std::vector<std::string> many;
  for (int i = 0; i < 1000; ++i) many.push_back("t" + std::to_string(i));
  EXPECT_EQ(sorted_unique_tags(many).size(), max_message_tags);
}

TEST(Messages, HostileHtmlCostsLinearTime) {
  store::Envelope e;
  e.recipients = {"a@example.org"};
  std::string html;
  for (int i = 0; i < 100000; ++i) html += "<STYLE>";
  const auto start = std::chrono::steady_clock::now();
  const auto m = summarize_message("Content-Type: text/html\r\n\r\n" + html + "\r\n", e);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(m.snippet, "");
  const auto closed = summarize_message("Content-Type: text/html\r\n\r\n<p>a</p><Style>x{}</sTyle><b>b</b>\r\n", e);
  EXPECT_EQ(closed.snippet, "a b");
}

}  // namespace
}  // namespace postern::testbed
