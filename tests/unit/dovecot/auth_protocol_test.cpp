// The auth-client protocol without a socket: what we send, and what the
// reader makes of Dovecot's lines, good and malformed.
#include "dovecot/auth_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dovecot/auth_client.hpp"

using namespace postern::dovecot;

namespace {

constexpr const char* kHandshake =
    "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nMECH\tCRAM-MD5\tdictionary\tactive\n"
    "MECH\tSCRAM-SHA-256\tmutual-auth\nMECH\tAPOP\tprivate\nMECH\tSCRAM-SHA-256-PLUS\tchannel-binding\n"
    "SPID\t847\nCUID\t5\nCOOKIE\t7dadbecbc6fe2f1169e62178c0871fc0\nDONE\n";

std::vector<Event> all(AuthReader& r) {
  std::vector<Event> out;
  while (auto e = r.next()) out.push_back(std::move(*e));
  return out;
}

AuthReader after_handshake() {
  AuthReader r;
  r.feed(kHandshake);
  auto events = all(r);
  EXPECT_EQ(events.size(), 1u);
  return r;
}

}  // namespace

TEST(DovecotAuthProtocol, HandshakeListsTheMechanismsWithTheirFlags) {
  AuthReader r;
  r.feed(kHandshake);
  auto events = all(r);
  ASSERT_EQ(events.size(), 1u);
  auto& h = std::get<HandshakeDone>(events[0]);
  EXPECT_EQ(h.major, 1u);
  EXPECT_EQ(h.minor, 2u);
  ASSERT_EQ(h.mechanisms.size(), 6u);
  EXPECT_TRUE(h.mechanisms[0].plaintext);
  EXPECT_FALSE(h.mechanisms[2].plaintext);
  EXPECT_TRUE(h.mechanisms[4].hidden);
  EXPECT_TRUE(h.mechanisms[5].channel_binding);
  EXPECT_TRUE(r.handshake_done());
}

TEST(DovecotAuthProtocol, OfferedMechanismsFollowTlsAndFlags) {
  AuthReader r;
  r.feed(kHandshake);
  auto h = std::get<HandshakeDone>(*r.next());
  EXPECT_EQ(offered_mechanisms(h.mechanisms, true, false),
            (std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"}));
  EXPECT_EQ(offered_mechanisms(h.mechanisms, false, false), (std::vector<std::string>{"CRAM-MD5", "SCRAM-SHA-256"}));
  EXPECT_EQ(offered_mechanisms(h.mechanisms, false, true).size(), 4u);
}

TEST(DovecotAuthProtocol, ArrivesInPieces) {
  AuthReader r;
  std::string text = kHandshake;
  for (char c : text) {
    ASSERT_FALSE(r.handshake_done());
    r.feed(std::string(1, c));
    if (auto e = r.next()) {
      ASSERT_TRUE(std::holds_alternative<HandshakeDone>(*e));
    }
  }
  EXPECT_TRUE(r.handshake_done());
}

TEST(DovecotAuthProtocol, RepliesAfterTheHandshake) {
  auto r = after_handshake();
  r.feed("CONT\t1\tPDEyMzQ+\nOK\t1\tuser=alice@example.org\nFAIL\t2\tuser=bob\nFAIL\t3\tcode=temp_fail\nFAIL\t4\ttemp\n"
         "OK\t5\tuser=x\tnologin\treason=go away\nOK\t6\tuser=s\tresp=dj1zaWc=\nUNKNOWN\tline\n");
  auto events = all(r);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(std::get<Continue>(events[0]).challenge, "<1234>");
  EXPECT_EQ(std::get<Success>(events[1]).user, "alice@example.org");
  EXPECT_FALSE(std::get<Success>(events[1]).nologin);
  EXPECT_EQ(std::get<Failure>(events[2]).user, "bob");
  EXPECT_FALSE(std::get<Failure>(events[2]).temporary);
  EXPECT_TRUE(std::get<Failure>(events[3]).temporary);
  EXPECT_TRUE(std::get<Failure>(events[4]).temporary);
  EXPECT_TRUE(std::get<Success>(events[5]).nologin);
  EXPECT_EQ(std::get<Success>(events[6]).final_data, "v=sig");
}

TEST(DovecotAuthProtocol, EscapedUserNames) {
  auto r = after_handshake();
  r.feed("OK\t1\tuser=a\001tb\0011c\001nd\001le\n");
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(std::get<Success>(*e).user, "a\tb\001c\nd\ne");
}

TEST(DovecotAuthProtocol, EscapeRoundTrips) {
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
  auto escaped = tab_escape(all_bytes);
  EXPECT_EQ(escaped.find('\t'), std::string::npos);
  EXPECT_EQ(escaped.find('\n'), std::string::npos);
  EXPECT_EQ(tab_unescape(escaped), all_bytes);
}

TEST(DovecotAuthProtocol, MalformedInputIsAProtocolError) {
  for (std::string bad : {"VERSION\t2\t0\n", "MECH\tPLAIN\n", "VERSION\tx\ty\n", "VERSION\t1\n",
                          "VERSION\t1\t2\nVERSION\t1\t2\n"}) {
    AuthReader r;
    r.feed(bad);
    auto e = r.next();
    ASSERT_TRUE(e) << bad;
    EXPECT_TRUE(std::holds_alternative<ProtocolError>(*e)) << bad;
    EXPECT_TRUE(r.failed());
    EXPECT_FALSE(r.next());
  }
  for (std::string bad : {"CONT\tx\tAAAA\n", "CONT\t1\n", "CONT\t1\tnot base64!\n", "OK\t\n", "FAIL\n",
                          "OK\t1\tresp=%%%\n"}) {
    auto r = after_handshake();
    r.feed(bad);
    auto e = r.next();
    ASSERT_TRUE(e) << bad;
    EXPECT_TRUE(std::holds_alternative<ProtocolError>(*e)) << bad;
  }
}

TEST(DovecotAuthProtocol, LimitsOnLinesAndMechanisms) {
  AuthReader r;
  r.feed("VERSION\t1\t2\n" + std::string(kMaxLineOctets, 'x'));
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(std::get<ProtocolError>(*e).what, "line too long");

  AuthReader many;
  std::string text = "VERSION\t1\t2\n";
  for (std::size_t i = 0; i <= kMaxMechanisms; ++i) text += "MECH\tM" + std::to_string(i) + "\n";
  many.feed(text);
  e = many.next();
  ASSERT_TRUE(e);
  EXPECT_TRUE(std::holds_alternative<ProtocolError>(*e));

  AuthReader chatty;
  text = "VERSION\t1\t2\n";
  for (std::size_t i = 0; i <= kMaxHandshakeLines; ++i) text += "SPID\t1\n";
  chatty.feed(text);
  e = chatty.next();
  ASSERT_TRUE(e);
  EXPECT_TRUE(std::holds_alternative<ProtocolError>(*e));
}

TEST(DovecotAuthProtocol, RepliesBeforeTheHandshakeEndAreErrors) {
  AuthReader r;
  r.feed("OK\t1\tuser=a\n");
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_TRUE(std::holds_alternative<ProtocolError>(*e));
}

TEST(DovecotAuthProtocol, LinesWeSend) {
  EXPECT_EQ(handshake_lines(42), "VERSION\t1\t2\nCPID\t42\n");
  AuthRequest a;
  a.id = 7;
  a.mechanism = "PLAIN";
  a.secured = true;
  a.local_ip = "127.0.0.1";
  a.remote_ip = "192.0.2.1";
  a.local_port = 587;
  a.remote_port = 40000;
  a.session = "abc\tdef";
  a.initial_response = std::string("\0alice\0pw", 9);
  EXPECT_EQ(auth_line(a),
            "AUTH\t7\tPLAIN\tservice=smtp\tsecured\tno-penalty\tsession=abc\001tdef\tlip=127.0.0.1\trip=192.0.2.1"
            "\tlport=587\trport=40000\tresp=AGFsaWNlAHB3\n");
  a.initial_response = std::string();
  a.secured = false;
  EXPECT_NE(auth_line(a).find("\tresp=\n"), std::string::npos);
  EXPECT_EQ(auth_line(a).find("secured"), std::string::npos);
  a.initial_response.reset();
  EXPECT_EQ(auth_line(a).find("resp="), std::string::npos);
  EXPECT_EQ(cont_line(3, "x"), "CONT\t3\teA==\n");
  EXPECT_EQ(cont_line(3, ""), "CONT\t3\t\n");
}

TEST(DovecotAuthProtocol, SocketAddresses) {
  auto u = parse_socket_address("/run/dovecot/auth-client");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->inet);
  EXPECT_EQ(u->path, "/run/dovecot/auth-client");
  auto i = parse_socket_address("inet:127.0.0.1:12345");
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->inet);
  EXPECT_EQ(i->host, "127.0.0.1");
  EXPECT_EQ(i->port, 12345);
  auto v6 = parse_socket_address("inet:[::1]:10");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  for (auto bad : {"", "inet:", "inet:host", "inet:host:0", "inet:host:70000", "inet:::1:10", "inet:[::1:10",
                   "inet:a b:1"}) {
    std::string why;
    EXPECT_FALSE(parse_socket_address(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(DovecotMechanismCache, OneRefreshAtATimeAndPerSocket) {
  MechanismCache c;
  const std::string a = "/run/a", b = "inet:127.0.0.1:1";
  auto t0 = MechanismCache::Clock::now();
  EXPECT_TRUE(c.claim_refresh(a, t0, std::chrono::seconds(60)));
  EXPECT_FALSE(c.claim_refresh(a, t0 + std::chrono::seconds(1), std::chrono::seconds(60)));
  c.store(a, {MechanismInfo{"PLAIN", true}}, t0 + std::chrono::seconds(2));
  EXPECT_FALSE(c.claim_refresh(a, t0 + std::chrono::seconds(30), std::chrono::seconds(60)));
  EXPECT_TRUE(c.claim_refresh(a, t0 + std::chrono::seconds(120), std::chrono::seconds(60)));
  EXPECT_EQ(c.mechanisms(a).size(), 1u);
  // A reload that names another socket does not see the old list.
  EXPECT_TRUE(c.mechanisms(b).empty());
  EXPECT_TRUE(c.claim_refresh(b, t0 + std::chrono::seconds(121), std::chrono::seconds(60)));
}
