// Table tests for the value syntax of the configuration file: durations,
// sizes, listener addresses, endpoints, Redis URLs, greylist allow entries.
// Every malformed form a user could write has a row.
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace postern::config {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, Valid) {
  struct Case {
    std::string in;
    Duration want;
  } cases[] = {
      {"30s", 30s}, {"5m", 5min},   {"2h", 2h},          {"35d", Duration(35 * 86400)}, {"0s", 0s},
      {"0", 0s},    {"90", 90s},    {"007s", 7s},        {"3650d", Duration(3650ll * 86400)},
      {"1m", 60s},  {"48h", 48h},
  };
  for (auto& c : cases) {
    try {
      EXPECT_EQ(parse_duration(c.in).count(), c.want.count()) << "input " << c.in;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << c.in << ": got error " << e.what() << ", want " << c.want.count() << "s";
    }
  }
}

TEST(ParseDuration, Malformed) {
  struct Case {
    std::string in, want_substring;
  } cases[] = {
      {"", "empty"},
      {"s", "expected a number"},
      {"m5", "expected a number"},
      {"-5s", "expected a number"},
      {"+5s", "expected a number"},
      {" 5s", "expected a number"},
      {"5s ", "unknown unit \"s \""},
      {"5 s", "unknown unit \" s\""},
      {"5.5m", "unknown unit \".5m\""},
      {"5ms", "unknown unit \"ms\""},
      {"5M", "unknown unit \"M\""},
      {"5S", "unknown unit \"S\""},
      {"5w", "unknown unit \"w\""},
      {"5y", "unknown unit \"y\""},
      {"1h30m", "unknown unit \"h30m\""},
      {"0x10", "unknown unit \"x10\""},
      {"5mm", "unknown unit \"mm\""},
      {"3651d", "longer than 3650d"},
      {"99999999999999999999s", "too large"},
      {"315360001", "longer than 3650d"},
      {std::string("5\0s", 3), "unknown unit"},
  };
  for (auto& c : cases) {
    try {
      auto d = parse_duration(c.in);
      ADD_FAILURE() << "input \"" << c.in << "\": got " << d.count() << "s, want an error with \"" << c.want_substring
                    << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.want_substring), std::string::npos)
          << "input \"" << c.in << "\": got \"" << e.what() << "\", want it to contain \"" << c.want_substring << "\"";
    }
  }
}

TEST(ParseSize, Valid) {
  struct Case {
    std::string in;
    std::uint64_t want;
  } cases[] = {
      {"25M", 25ull << 20}, {"512K", 512ull << 10}, {"1G", 1ull << 30}, {"1000", 1000}, {"0", 0},
      {"25m", 25ull << 20}, {"512k", 512ull << 10}, {"2g", 2ull << 30}, {"1024G", 1ull << 40},
  };
  for (auto& c : cases) {
    try {
      EXPECT_EQ(parse_size(c.in), c.want) << "input " << c.in;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << c.in << ": got error " << e.what() << ", want " << c.want;
    }
  }
}

TEST(ParseSize, Malformed) {
  struct Case {
    std::string in, want_substring;
  } cases[] = {
      {"", "empty"},
      {"M", "expected a number"},
      {"-1M", "expected a number"},
      {"+1M", "expected a number"},
      {" 1M", "expected a number"},
      {"1.5M", "unknown unit \".5M\""},
      {"25MB", "unknown unit \"MB\""},
      {"25MiB", "unknown unit \"MiB\""},
      {"25T", "unknown unit \"T\""},
      {"25 M", "unknown unit \" M\""},
      {"1e6", "unknown unit \"e6\""},
      {"1025G", "larger than 1024G"},
      {"99999999999999999999", "too large"},
  };
  for (auto& c : cases) {
    try {
      auto s = parse_size(c.in);
      ADD_FAILURE() << "input \"" << c.in << "\": got " << s << ", want an error with \"" << c.want_substring << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.want_substring), std::string::npos)
          << "input \"" << c.in << "\": got \"" << e.what() << "\", want it to contain \"" << c.want_substring << "\"";
    }
  }
}

TEST(Format, DurationAndSizeRoundTrip) {
  struct Case {
    std::int64_t seconds;
    std::string want;
  } durations[] = {{0, "0s"}, {30, "30s"}, {90, "90s"}, {300, "5m"}, {7200, "2h"}, {86400 * 35, "35d"}, {3601, "3601s"}};
  for (auto& c : durations) {
    EXPECT_EQ(format_duration(Duration(c.seconds)), c.want);
    EXPECT_EQ(parse_duration(c.want).count(), c.seconds);
  }
  struct SizeCase {
    std::uint64_t octets;
    std::string want;
  } sizes[] = {{0, "0"}, {1000, "1000"}, {1024, "1K"}, {25ull << 20, "25M"}, {3ull << 30, "3G"}, {1536, "1536"}};
  for (auto& c : sizes) {
    EXPECT_EQ(format_size(c.octets), c.want);
    EXPECT_EQ(parse_size(c.want), c.octets);
  }
}

TEST(ParseListenAddress, Valid) {
  struct Case {
    std::string in, host;
    std::uint16_t port;
  } cases[] = {
      {"0.0.0.0:25", "0.0.0.0", 25},     {"127.0.0.1:2525", "127.0.0.1", 2525}, {"[::]:25", "::", 25},
      {"[::1]:587", "::1", 587},         {"[2001:DB8::1]:465", "2001:db8::1", 465},
      {"192.0.2.1:65535", "192.0.2.1", 65535}, {"10.0.0.1:1", "10.0.0.1", 1},
  };
  for (auto& c : cases) {
    try {
      auto ep = parse_listen_address(c.in);
      EXPECT_EQ(ep.host, c.host) << "input " << c.in;
      EXPECT_EQ(ep.port, c.port) << "input " << c.in;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << c.in << ": got error " << e.what();
    }
  }
}

TEST(ParseListenAddress, Malformed) {
  struct Case {
    std::string in, want_substring;
  } cases[] = {
      {"", "empty address"},
      {"127.0.0.1", "expected an IP address and a port"},
      {"127.0.0.1:", "missing port"},
      {":25", "missing host"},
      {"127.0.0.1:0", "out of range"},
      {"127.0.0.1:65536", "out of range"},
      {"127.0.0.1:99999999999", "out of range"},
      {"127.0.0.1:-1", "not a number"},
      {"127.0.0.1:smtp", "not a number"},
      {"127.0.0.1:25 ", "not a number"},
      {"localhost:25", "is not an IP address"},
      {"*:25", "is not an IP address"},
      {"256.0.0.1:25", "is not an IP address"},
      {"1.2.3:25", "is not an IP address"},
      {"::1", "in brackets"},
      {"::1:25", "in brackets"},
      {"[::1]", "expected an IP address and a port"},
      {"[::1]25", "expected ':' and a port"},
      {"[::1:25", "missing ']'"},
      {"[127.0.0.1]:25", "not an IPv6 address"},
      {"[fe80::1%eth0]:25", "not an IPv6 address"},
      {"[]:25", "not an IPv6 address"},
  };
  for (auto& c : cases) {
    try {
      auto ep = parse_listen_address(c.in);
      ADD_FAILURE() << "input \"" << c.in << "\": got " << ep.host << " port " << ep.port << ", want an error with \""
                    << c.want_substring << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.want_substring), std::string::npos)
          << "input \"" << c.in << "\": got \"" << e.what() << "\", want it to contain \"" << c.want_substring << "\"";
    }
  }
}

TEST(ParseEndpoint, ValidAndMalformed) {
  auto ep = parse_endpoint("Smtp.Example.net:587", 25);
  EXPECT_EQ(ep.host, "smtp.example.net");
  EXPECT_EQ(ep.port, 587);
  EXPECT_EQ(parse_endpoint("mail.example.net", 25).port, 25);
  EXPECT_EQ(parse_endpoint("[::1]", 53).host, "::1");
  EXPECT_EQ(parse_endpoint("::1", 53, true).port, 53);
  EXPECT_EQ(parse_endpoint("127.0.0.1:5353", 53, true).port, 5353);
  for (std::string bad : {"", "exa mple.net", "-bad.example", "bad-.example", "a..b", "host:", "host:0", "host:x",
                          "[::1", "under_score.example", "a.b.c.", "127.0.0.1:70000"}) {
    EXPECT_THROW(parse_endpoint(bad, 25), std::invalid_argument) << "input \"" << bad << "\"";
  }
  EXPECT_THROW(parse_endpoint("dns.example.net", 53, true), std::invalid_argument);
  EXPECT_THROW(parse_endpoint(std::string(64, 'a') + ".example", 25), std::invalid_argument);
}

TEST(IsDomain, Table) {
  for (std::string good : {"localhost", "example.org", "EXAMPLE.org", "a-b.c0", "xn--bcher-kva.example", "1.2.3"})
    EXPECT_TRUE(is_domain(good)) << good;
  for (std::string bad : std::vector<std::string>{"", ".", ".example", "example.", "a..b", "-a.b", "a-.b", "a_b.c", "a b", "ü.example",
                          std::string(64, 'a'), std::string(254, 'a')})
    EXPECT_FALSE(is_domain(bad)) << bad;
}

TEST(ParseRedisUrl, ValidAndMalformed) {
  auto u = parse_redis_url("redis://127.0.0.1:6380/3");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 3u);
  u = parse_redis_url("redis://cache.example");
  EXPECT_EQ(u.port, 6379);
  EXPECT_EQ(u.db, 0u);
  EXPECT_EQ(parse_redis_url("redis://[::1]:7000/").port, 7000);
  struct Case {
    std::string in, want_substring;
  } cases[] = {
      {"sqlite3", "expected \"sqlite\" or \"redis://"},
      {"http://127.0.0.1:6379/0", "expected \"sqlite\" or \"redis://"},
      {"redis://", "missing host"},
      {"redis:///0", "missing host"},
      {"redis://127.0.0.1:6379/x", "database \"x\" is not a number"},
      {"redis://127.0.0.1:6379/99999999999", "too large"},
      {"redis://127.0.0.1:0/0", "out of range"},
      {"redis://:secret@127.0.0.1/0", "credentials"},
      {"redis://bad host/0", "not a host name"},
  };
  for (auto& c : cases) {
    try {
      parse_redis_url(c.in);
      ADD_FAILURE() << "input \"" << c.in << "\": accepted, want an error with \"" << c.want_substring << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.want_substring), std::string::npos)
          << "input \"" << c.in << "\": got \"" << e.what() << "\", want it to contain \"" << c.want_substring << "\"";
    }
  }
}

TEST(ParseAllowEntry, Table) {
  struct Case {
    std::string in, want;
  } good[] = {
      {"192.0.2.0/24", "192.0.2.0/24"},
      {"192.0.2.7", "192.0.2.7"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"2001:DB8::/32", "2001:db8::/32"},
      {"::1", "::1"},
      {"Example.NET", "example.net"},
      {".example.net", ".example.net"},
      {"rcpt:Bob@EXAMPLE.org", "rcpt:Bob@example.org"},
      {"RCPT:example.org", "rcpt:example.org"},
  };
  for (auto& c : good) {
    try {
      EXPECT_EQ(parse_allow_entry(c.in), c.want) << "input " << c.in;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << c.in << ": got error " << e.what();
    }
  }
  struct Bad {
    std::string in, want_substring;
  } bad[] = {
      {"", "empty"},
      {"192.0.2.0/33", "prefix length must be 0-32"},
      {"192.0.2.0/", "prefix length"},
      {"192.0.2.0/x", "prefix length"},
      {"192.0.2.0/24/8", "prefix length"},
      {"2001:db8::/129", "prefix length must be 0-128"},
      {"300.0.2.0/24", "is not an IP address"},
      {"example.net/24", "is not an IP address"},
      {"exa mple.net", "expected a CIDR"},
      {"*.example.net", "expected a CIDR"},
      {"..example.net", "expected a CIDR"},
      {"rcpt:", "expected \"rcpt:user@example.org\""},
      {"rcpt:@example.org", "empty local part"},
      {"rcpt:bob@", "expected \"rcpt:user@example.org\""},
      {"rcpt:bob smith@example.org", "local part"},
      {"rcpt:<bob@example.org>", "local part"},
      {"rcpt:bob@bad_domain", "expected \"rcpt:user@example.org\""},
  };
  for (auto& c : bad) {
    try {
      auto got = parse_allow_entry(c.in);
      ADD_FAILURE() << "input \"" << c.in << "\": got \"" << got << "\", want an error with \"" << c.want_substring
                    << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.want_substring), std::string::npos)
          << "input \"" << c.in << "\": got \"" << e.what() << "\", want it to contain \"" << c.want_substring << "\"";
    }
  }
}

TEST(KnownMechanisms, MatchesSpec) {
  auto& known = known_mechanisms();
  for (std::string m : {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN",
                        "CRAM-MD5"})
    EXPECT_NE(std::find(known.begin(), known.end(), m), known.end()) << m;
  EXPECT_EQ(known.size(), 7u);
}

}  // namespace
}  // namespace postern::config
