#include "http/request_guard.hpp"

#include <gtest/gtest.h>

namespace postern::http {
namespace {

TEST(HostAllowlist, AnswersIpLiteralsLocalhostAndTheNamesGiven) {
  HostAllowlist hosts({"mail.example.org"});
  for (const char* ok : {"127.0.0.1:8025", "127.0.0.1", "[::1]:8025", "[::1]", "10.0.0.7:9025", "localhost:8025",
                         "LOCALHOST", "app.localhost:8025", "localhost.:8025", "mail.example.org:9025", "Mail.Example.Org",
                         ""})
    EXPECT_TRUE(hosts.allows(ok)) << ok;
  for (const char* refused : {"rebind.attacker.test:8025", "attacker.test", "localhost.attacker.test", "127.0.0.1.nip.io",
                              "mail.example.org.attacker.test", "::1", "[::1", "localhost:80x", "a b", "local host",
                              "localhost:8025:1", "[rebind.test]:80", "x.localhost.evil"})
    EXPECT_FALSE(hosts.allows(refused)) << refused;
}

TEST(HostAllowlist, StarAllowsAnyName) {
  EXPECT_FALSE(HostAllowlist().allows("testbed.internal:8025"));
  EXPECT_TRUE(HostAllowlist({"*"}).allows("testbed.internal:8025"));
}

TEST(HostName, IsTheLowerCaseNameWithoutPortOrBrackets) {
  EXPECT_EQ(host_name("Example.ORG:80"), "example.org");
  EXPECT_EQ(host_name("[::1]:8025"), "::1");
  EXPECT_EQ(host_name("example.org."), "example.org");
  EXPECT_EQ(host_name(":80"), std::nullopt);
  EXPECT_EQ(host_name("exa\x01mple"), std::nullopt);
}

RequestFacts post(std::string_view content_type, std::string_view origin = "") {
  return {"POST", "127.0.0.1:8025", origin, "", "", "", content_type, true};
}

TEST(RefuseCrossSite, ReadsPassUnlessAnotherSiteEmbedsThem) {
  for (const char* m : {"GET", "HEAD", "OPTIONS"}) {
    EXPECT_EQ(refuse_cross_site({m, "127.0.0.1:8025", "", "", "", "", "text/plain", true}), std::nullopt);
    EXPECT_EQ(refuse_cross_site({m, "127.0.0.1:8025", "", "same-origin", "cors", "", "", false}), std::nullopt);
    EXPECT_EQ(refuse_cross_site({m, "127.0.0.1:8025", "", "none", "navigate", "document", "", false}), std::nullopt);
    EXPECT_EQ(refuse_cross_site({m, "127.0.0.1:8025", "", "cross-site", "navigate", "document", "", false}), std::nullopt);
    EXPECT_EQ(refuse_cross_site({m, "127.0.0.1:8025", "", "cross-site", "no-cors", "", "", false})->status, 403);
    EXPECT_EQ(refuse_cross_site({m, "127.0.0.1:8025", "", "same-site", "cors", "", "", false})->status, 403);
    // An <iframe> navigates too: it would hold a wait or an event stream open.
    EXPECT_EQ(refuse_cross_site({m, "127.0.0.1:8025", "", "cross-site", "navigate", "iframe", "", false})->status, 403);
    EXPECT_EQ(refuse_cross_site({m, "127.0.0.1:8025", "", "same-site", "navigate", "frame", "", false})->status, 403);
  }
}

TEST(RefuseCrossSite, WritesMustBeJsonFromTheSameOrigin) {
  EXPECT_EQ(refuse_cross_site(post("application/json")), std::nullopt);
  EXPECT_EQ(refuse_cross_site(post("Application/JSON; charset=utf-8")), std::nullopt);
  EXPECT_EQ(refuse_cross_site(post("application/json", "http://127.0.0.1:8025")), std::nullopt);
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
                           "application/jsonx", "text/plain; application/json"})
    EXPECT_EQ(refuse_cross_site(post(type))->status, 415) << type;
  for (const char* origin : {"http://attacker.test", "null", "http://127.0.0.1:8026", "https://127.0.0.1:8025"})
    EXPECT_EQ(refuse_cross_site(post("application/json", origin))->status, 403) << origin;
  EXPECT_EQ(refuse_cross_site({"POST", "127.0.0.1:8025", "", "cross-site", "cors", "", "application/json", true})->status, 403);
  EXPECT_EQ(refuse_cross_site({"POST", "127.0.0.1:8025", "", "same-origin", "cors", "", "application/json", true}), std::nullopt);
}

TEST(RefuseCrossSite, ABodilessDeleteWithoutOriginIsFine) {
  EXPECT_EQ(refuse_cross_site({"DELETE", "127.0.0.1:8025", "", "", "", "", "", false}), std::nullopt);
  EXPECT_EQ(refuse_cross_site({"DELETE", "127.0.0.1:8025", "", "", "", "", "text/plain", true})->status, 415);
  EXPECT_EQ(refuse_cross_site({"DELETE", "127.0.0.1:8025", "http://attacker.test", "", "", "", "", false})->status, 403);
  EXPECT_EQ(refuse_cross_site({"PUT", "127.0.0.1:8025", "", "", "", "", "", false})->status, 415);
}

}  // namespace
}  // namespace postern::http
