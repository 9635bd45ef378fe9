#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <map>

#include "dkim/key.hpp"
#include "dkim/signer.hpp"
#include "inbound/auth_results.hpp"
#include "inbound/dmarc.hpp"
#include "inbound/dnsbl.hpp"
#include "inbound/message_check.hpp"
#include "inbound/spf.hpp"
#include "inbound/spf_record.hpp"

using namespace postern::inbound;

namespace {

// A DNS of TXT and A records by name; "timeout.test" and below fail.
class TableDns final : public DnsSource {
 public:
  std::multimap<std::string, std::string> txts, as;
  asio::awaitable<DnsAnswer> txt(std::string name) override { co_return find(txts, name); }
  asio::awaitable<DnsAnswer> addresses(std::string name, bool ipv6) override {
    if (ipv6) co_return DnsAnswer{};
    co_return find(as, name);
  }
  asio::awaitable<DnsAnswer> mx(std::string) override { co_return DnsAnswer{}; }
  asio::awaitable<DnsAnswer> ptr(asio::ip::address) override { co_return DnsAnswer{}; }

 private:
  static DnsAnswer find(const std::multimap<std::string, std::string>& m, const std::string& name) {
    DnsAnswer a;
    if (name.ends_with("timeout.test")) {
      a.status = DnsAnswer::Status::error;
      return a;
    }
    auto [b, e] = m.equal_range(name);
    for (auto it = b; it != e; ++it) a.records.push_back(it->second);
    a.status = a.records.empty() ? DnsAnswer::Status::none : DnsAnswer::Status::found;
    return a;
  }
};

template <typename T>
T run(asio::awaitable<T> task) {
  asio::io_context io;
  T out{};
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await std::move(task); }, asio::detached);
  io.run();
  return out;
}

spf::MacroContext rfc_context(const char* ip) {
  spf::MacroContext c;
  c.sender = "strong-bad@email.example.com";
  c.domain = "email.example.com";
  c.ip = asio::ip::make_address(ip);
  c.helo = "mx.example.org";
  return c;
}

std::string expand(const char* s, const char* ip = "192.0.2.3") { return spf::expand(s, rfc_context(ip)).value_or("(error)"); }

}  // namespace

TEST(SpfMacros, TheExamplesOfRfc7208Section7_4) {
  EXPECT_EQ(expand("%{s}"), "strong-bad@email.example.com");
  EXPECT_EQ(expand("%{o}"), "email.example.com");
  EXPECT_EQ(expand("%{d}"), "email.example.com");
  EXPECT_EQ(expand("%{d4}"), "email.example.com");
  EXPECT_EQ(expand("%{d3}"), "email.example.com");
  EXPECT_EQ(expand("%{d2}"), "example.com");
  EXPECT_EQ(expand("%{d1}"), "com");
  EXPECT_EQ(expand("%{dr}"), "com.example.email");
  EXPECT_EQ(expand("%{d2r}"), "example.email");
  EXPECT_EQ(expand("%{l}"), "strong-bad");
  EXPECT_EQ(expand("%{l-}"), "strong.bad");
  EXPECT_EQ(expand("%{lr}"), "strong-bad");
  EXPECT_EQ(expand("%{lr-}"), "bad.strong");
  EXPECT_EQ(expand("%{l1r-}"), "strong");
  EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}"), "3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand("%{lr-}.lp._spf.%{d2}"), "bad.strong.lp._spf.example.com");
  EXPECT_EQ(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}"), "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}"), "3.2.0.192.in-addr.strong.lp._spf.example.com");
  EXPECT_EQ(expand("%{d2}.trusted-domains.example.net"), "example.com.trusted-domains.example.net");
  EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01"),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST(SpfMacros, EscapesAndErrors) {
  EXPECT_EQ(expand("%%%_%-"), "% %20");
  EXPECT_EQ(expand("%{S}"), "strong-bad%40email.example.com");
  EXPECT_EQ(expand("%{x}"), "(error)");
  EXPECT_EQ(expand("%{d0}"), "(error)");
  EXPECT_EQ(expand("%{d"), "(error)");
  EXPECT_EQ(expand("%"), "(error)");
  EXPECT_EQ(expand("%{c}"), "(error)");  // c, r, t only in explanations
  EXPECT_EQ(*spf::expand("%{c} %{r}", rfc_context("192.0.2.3"), true), "192.0.2.3 unknown");
  // A domain-spec over 253 octets loses labels on the left.
  const std::string longer = std::string(200, 'a') + "." + std::string(60, 'b') + ".example";
  EXPECT_EQ(*spf::expand(longer, rfc_context("192.0.2.3")), std::string(60, 'b') + ".example");
}

TEST(SpfRecord, SyntaxErrorsArePermerrors) {
  EXPECT_TRUE(std::holds_alternative<spf::Record>(spf::parse_record("v=spf1 ip4:192.0.2.0/24 a//64 mx:%{d}/24 -all")));
  for (const char* bad : {"v=spf1 ip4:192.0.2.0/33", "v=spf1 foo", "v=spf1 a:example", "v=spf1 redirect=a.example redirect=b.example",
                          "v=spf1 ip4:1.2.3", "v=spf1 include", "v=spf1 exists:%{q}.example.com", "v=spf1 a/024"})
    EXPECT_TRUE(std::holds_alternative<std::string>(spf::parse_record(bad))) << bad;
  EXPECT_FALSE(spf::is_spf_record("v=spf10"));
  EXPECT_TRUE(spf::is_spf_record("V=SPF1 -all"));
}

TEST(SpfCheck, TemporaryDnsTroubleIsTemperrorAndNoRecordIsNone) {
  TableDns dns;
  dns.txts.emplace("example.test", "v=spf1 ip4:192.0.2.0/24 include:timeout.test -all");
  spf::Query q{asio::ip::make_address("192.0.2.9"), "a@example.test", "example.test", "mx.example.test", "", 0};
  EXPECT_EQ(run(spf::check_host(dns, q)).result, spf::Result::pass);
  q.ip = asio::ip::make_address("198.51.100.1");
  EXPECT_EQ(run(spf::check_host(dns, q)).result, spf::Result::temperror);
  q.domain = "nothing.test";
  EXPECT_EQ(run(spf::check_host(dns, q)).result, spf::Result::none);
}

TEST(Dmarc, RecordsPoliciesAndAlignment) {
  auto r = std::get<dmarc::Record>(dmarc::parse_record("v=DMARC1; p=quarantine; sp=reject; adkim=s; pct=20"));
  EXPECT_EQ(r.p, dmarc::Policy::quarantine);
  EXPECT_EQ(*r.sp, dmarc::Policy::reject);
  EXPECT_TRUE(r.strict_dkim);
  EXPECT_FALSE(r.strict_spf);
  EXPECT_EQ(r.pct, 20u);
  for (const char* bad : {"v=DMARC1", "v=DMARC1; p=maybe", "v=DMARC1; p=none; pct=101", "v=DMARC1; p=none; adkim=x", "p=none"})
    EXPECT_TRUE(std::holds_alternative<std::string>(dmarc::parse_record(bad))) << bad;
  EXPECT_EQ(dmarc::organizational_domain("mail.Example.co.uk"), "example.co.uk");
  EXPECT_EQ(dmarc::organizational_domain("a.b.example.com."), "example.com");
  EXPECT_EQ(dmarc::organizational_domain("example.com"), "example.com");
  EXPECT_TRUE(dmarc::aligned("mail.example.com", "example.com", false));
  EXPECT_FALSE(dmarc::aligned("mail.example.com", "example.com", true));
  EXPECT_FALSE(dmarc::aligned("example.co.uk", "other.co.uk", false));
}

TEST(AuthResults, TheFieldAndItsAuthservId) {
  EXPECT_EQ(authentication_results("mx.example.org", {{"spf", "pass", "", {{"smtp.mailfrom", "a@example.com"}}},
                                                      {"dkim", "fail", "body hash mismatch", {{"header.d", "example.com"}}}}),
            "Authentication-Results: mx.example.org;\r\n\tspf=pass smtp.mailfrom=a@example.com;\r\n"
            "\tdkim=fail (body hash mismatch) header.d=example.com\r\n");
  EXPECT_EQ(authentication_results("mx.example.org", {}), "Authentication-Results: mx.example.org; none\r\n");
  EXPECT_EQ(authserv_id(" mx.example.org; spf=pass"), "mx.example.org");
  EXPECT_EQ(authserv_id(" (forged (nested)) mx.example.org 1; none"), "mx.example.org");
  EXPECT_EQ(authserv_id("\r\n\t\"mx.example.org\"; none"), "mx.example.org");
  EXPECT_EQ(authserv_id(""), "");
  EXPECT_EQ(property_value("a b"), "\"a b\"");
}

TEST(Dnsbl, QueryNamesAsRfc5782Says) {
  EXPECT_EQ(dnsbl_query_name(asio::ip::make_address("192.0.2.99"), "bl.example"), "99.2.0.192.bl.example");
  EXPECT_EQ(dnsbl_query_name(asio::ip::make_address("::ffff:192.0.2.99"), "bl.example"), "99.2.0.192.bl.example");
  EXPECT_EQ(dnsbl_query_name(asio::ip::make_address("2001:db8:1:2:3:4:567:89ab"), "ugly.example"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example");
}

TEST(Dnsbl, ListedWithTheTextOrNotOnFailure) {
  TableDns dns;
  dns.as.emplace("2.0.0.127.bl.test", "127.0.0.2");
  dns.txts.emplace("2.0.0.127.bl.test", "go away");
  dns.as.emplace("2.0.0.127.errors.test", "127.255.255.254");
  auto out = run(check_dnsbl(dns, asio::ip::make_address("127.0.0.2"), {"timeout.test", "errors.test", "bl.test"}));
  ASSERT_TRUE(out.listing);
  EXPECT_EQ(out.listing->list, "bl.test");
  EXPECT_EQ(out.listing->text, "go away");
  EXPECT_EQ(out.failed, std::vector<std::string>{"timeout.test"});
  EXPECT_FALSE(run(check_dnsbl(dns, asio::ip::make_address("127.0.0.3"), {"bl.test"})).listing);
}

namespace {

const std::string body = "Hello,\r\n\r\nthe body.\r\n";
const std::string headers =
    "Authentication-Results: MX.example.org;\r\n\tspf=pass smtp.mailfrom=ceo@example.com\r\n"
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.org\r\n"
    "Authentication-Results: other.example; dkim=pass\r\n"
    "Subject: check\r\n";

CheckSettings all_checks(bool enforce = false) { return {true, true, true, enforce, "mx.example.org"}; }

std::string stream(MessageCheck& check, const std::string& message, std::size_t chunk) {
  std::string out;
  for (std::size_t i = 0; i < message.size(); i += chunk) out += check.feed(message.substr(i, chunk));
  return out + check.flush();
}

}  // namespace

TEST(MessageCheck, ForgedResultsGoWhateverThePiecesTheMessageComesIn) {
  const std::string message = headers + "\r\n" + body;
  std::string want = message;
  want.erase(0, want.find("From:"));
  for (std::size_t chunk : {1u, 2u, 5u, 13u, 4096u}) {
    MessageCheck check(all_checks(), {asio::ip::make_address("192.0.2.1"), "client.example", "alice@example.com"});
    EXPECT_EQ(stream(check, message, chunk), want) << chunk;
    EXPECT_EQ(check.removed(), 1u);
  }
  MessageCheck headers_only(all_checks(), {});
  EXPECT_EQ(stream(headers_only, "Subject: x\r\nAuthentication-Results: mx.example.org; none", 3), "Subject: x\r\n");
}

TEST(MessageCheck, HugeFieldsAreStreamedAndForgedOnesStillGo) {
  const std::string huge_forged = "Authentication-Results: mx.example.org; spf=pass (" + std::string(200 * 1024, 'x') + ")\r\n";
  const std::string huge_other = "X-Long: " + std::string(100 * 1024, 'y') + "\r\n " + std::string(100, 'z') + "\r\n";
  const std::string message = "From: a@example.com\r\n" + huge_forged + huge_other + "Subject: s\r\n\r\nbody\r\n";
  for (std::size_t chunk : {4096u, 100000u, 1u << 20}) {
    MessageCheck check(all_checks(), {asio::ip::make_address("192.0.2.1"), "client.example", "a@example.com"});
    EXPECT_EQ(stream(check, message, chunk), "From: a@example.com\r\n" + huge_other + "Subject: s\r\n\r\nbody\r\n");
    EXPECT_EQ(check.removed(), 1u);
    TableDns dns;
    auto v = run(check.finish(dns, 0));
    EXPECT_NE(v.summary.find("dkim=permerror"), std::string::npos) << v.summary;
  }
  // A header section of many fields: beyond the limit none are kept for DKIM, all are stored.
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "X-Filler-" + std::to_string(i) + ": " + std::string(60, 'f') + "\r\n";
  MessageCheck check(all_checks(), {asio::ip::make_address("192.0.2.1"), "client.example", "a@example.com"});
  const std::string big = many + "Authentication-Results: mx.example.org; none\r\n\r\nbody\r\n";
  EXPECT_EQ(stream(check, big, 8192), many + "\r\nbody\r\n");
}

TEST(MessageCheck, VerdictsFromDkimSpfAndDmarc) {
  postern::dkim::SigningKey key{"example.com", "k1", postern::dkim::Algorithm::ed25519,
                                postern::dkim::generate(postern::dkim::Algorithm::ed25519), nullptr};
  const std::string unsigned_message = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: s\r\n\r\n" + body;
  const std::string signed_message = postern::dkim::sign(unsigned_message, {key}) + unsigned_message;
  TableDns dns;
  dns.txts.emplace("k1._domainkey.example.com", postern::dkim::txt_record(key.pem));
  dns.txts.emplace("_dmarc.example.com", "v=DMARC1; p=reject");
  dns.txts.emplace("example.com", "v=spf1 -all");
  dns.txts.emplace("client.example", "v=spf1 ip4:192.0.2.1 -all");

  MessageCheck good(all_checks(true), {asio::ip::make_address("192.0.2.1"), "client.example", "alice@example.com"});
  stream(good, signed_message, 7);
  auto v = run(good.finish(dns, 1800000000));
  EXPECT_EQ(v.summary, "spf=fail spf=pass dkim=pass dmarc=pass");
  EXPECT_FALSE(v.reject);
  EXPECT_NE(v.header.find("dkim=pass header.d=example.com header.s=k1 header.b="), std::string::npos) << v.header;

  std::string tampered = signed_message;
  tampered.replace(tampered.find("the body"), 8, "the bod!");
  MessageCheck bad(all_checks(true), {asio::ip::make_address("192.0.2.1"), "client.example", "alice@example.com"});
  stream(bad, tampered, 4096);
  v = run(bad.finish(dns, 1800000000));
  EXPECT_EQ(v.summary, "spf=fail spf=pass dkim=fail dmarc=fail");
  ASSERT_TRUE(v.reject);
  EXPECT_NE(v.reject->find("example.com"), std::string::npos);

  MessageCheck unenforced(all_checks(false), {asio::ip::make_address("192.0.2.1"), "client.example", "alice@example.com"});
  stream(unenforced, tampered, 4096);
  v = run(unenforced.finish(dns, 1800000000));
  EXPECT_FALSE(v.reject);
  EXPECT_NE(v.header.find("dmarc=fail (p=reject dis=reject) header.from=example.com"), std::string::npos) << v.header;

  MessageCheck temp(all_checks(true), {asio::ip::make_address("192.0.2.1"), "client.example", "alice@timeout.test"});
  stream(temp, "From: a@timeout.test\r\n\r\nx\r\n", 4096);
  v = run(temp.finish(dns, 0));
  EXPECT_EQ(v.summary, "spf=temperror spf=pass dkim=none dmarc=temperror");
  EXPECT_FALSE(v.reject);
}
