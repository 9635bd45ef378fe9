// The milter protocol without I/O: framing, the packet reader's limits,
// the negotiation and every reply a filter may send, malformed ones included.
#include <gtest/gtest.h>

#include "inbound/milter/protocol.hpp"

namespace postern::milter {
namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

Response decode_ok(char command, std::string data) {
  auto r = decode_response(Packet{command, std::move(data)});
  EXPECT_TRUE(std::holds_alternative<Response>(r)) << std::get<std::string>(r);
  return std::holds_alternative<Response>(r) ? std::get<Response>(r) : Response{};
}

std::string decode_error(char command, std::string data) {
  auto r = decode_response(Packet{command, std::move(data)});
  EXPECT_TRUE(std::holds_alternative<std::string>(r));
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

TEST(Encode, Framing) {
  EXPECT_EQ(packet('A'), std::string("\0\0\0\1A", 5));
  EXPECT_EQ(strings_packet('H', {"client.example"}), be32(16) + "Hclient.example" + std::string(1, '\0'));
  EXPECT_EQ(optneg_packet(6, 0x1ff, 0x10), be32(13) + "O" + be32(6) + be32(0x1ff) + be32(0x10));
  EXPECT_EQ(connect_packet("[192.0.2.1]", '4', 2525, "192.0.2.1"),
            be32(1 + 12 + 1 + 2 + 10) + "C[192.0.2.1]" + std::string(1, '\0') + "4" + "\x09\xdd" + "192.0.2.1" +
                std::string(1, '\0'));
  EXPECT_EQ(connect_packet("x", 'U', 0, ""), be32(4) + "Cx" + std::string(1, '\0') + "U");
  EXPECT_EQ(macro_packet('M', {{"i", "abc"}, {"{mail_addr}", "a@b"}}),
            be32(1 + 1 + 2 + 4 + 12 + 4) + "DMi" + std::string(1, '\0') + "abc" + std::string(1, '\0') + "{mail_addr}" +
                std::string(1, '\0') + "a@b" + std::string(1, '\0'));
  // A NUL inside a string would cut it short on the filter's side.
  EXPECT_EQ(strings_packet('H', {std::string("a\0b", 3)}), be32(5) + "Ha b" + std::string(1, '\0'));
}

TEST(PacketReader, WholeAndPieces) {
  std::string stream = packet('c') + packet('y', std::string("550 5.7.1 no\0", 13)) + packet('a');
  for (std::size_t step : {1u, 2u, 3u, 7u, 100u}) {
    PacketReader reader;
    std::vector<Packet> got;
    for (std::size_t i = 0; i < stream.size(); i += step) {
      reader.feed(std::string_view(stream).substr(i, step));
      while (auto p = reader.next()) got.push_back(*p);
    }
    ASSERT_EQ(got.size(), 3u) << step;
    EXPECT_EQ(got[0].command, 'c');
    EXPECT_EQ(got[1].command, 'y');
    EXPECT_EQ(got[1].data, std::string("550 5.7.1 no\0", 13));
    EXPECT_EQ(got[2].command, 'a');
    EXPECT_EQ(reader.buffered(), 0u);
    EXPECT_FALSE(reader.failed());
  }
}

TEST(PacketReader, LimitsStick) {
  PacketReader reader(100);
  reader.feed(be32(101) + "b");
  EXPECT_FALSE(reader.next());
  EXPECT_TRUE(reader.failed());
  EXPECT_EQ(reader.error(), "a packet of 101 octets (the limit is 100)");
  reader.feed(packet('c'));
  EXPECT_FALSE(reader.next()) << "no resynchronisation after an error";

  PacketReader zero;
  zero.feed(be32(0));
  EXPECT_FALSE(zero.next());
  EXPECT_EQ(zero.error(), "a packet of length 0");

  PacketReader huge;
  huge.feed(be32(0xffffffff));
  EXPECT_FALSE(huge.next());
  EXPECT_TRUE(huge.failed());

  PacketReader exact(100);
  exact.feed(be32(100) + "b" + std::string(99, 'x'));
  auto p = exact.next();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->data.size(), 99u);
}

TEST(Negotiation, Agreement) {
  auto r = decode_optneg(be32(6) + be32(0x01 | 0x10) + be32(0x80 | 0x2), action::all, step::offered);
  ASSERT_TRUE(std::holds_alternative<Negotiated>(r));
  auto& n = std::get<Negotiated>(r);
  EXPECT_EQ(n.version, 6u);
  EXPECT_EQ(n.actions, 0x11u);
  EXPECT_EQ(n.steps, 0x82u);
  EXPECT_FALSE(n.macros[0]);
}

TEST(Negotiation, MacroLists) {
  std::string data = be32(6) + be32(0) + be32(0) + be32(2) + "i {mail_addr}" + std::string(1, '\0') + be32(5) +
                     "i" + std::string(1, '\0');
  auto r = decode_optneg(data, action::all, step::offered);
  ASSERT_TRUE(std::holds_alternative<Negotiated>(r)) << std::get<std::string>(r);
  auto& n = std::get<Negotiated>(r);
  ASSERT_TRUE(n.macros[2]);
  EXPECT_EQ(*n.macros[2], (std::vector<std::string>{"i", "{mail_addr}"}));
  ASSERT_TRUE(n.macros[5]);
  EXPECT_EQ(*n.macros[5], std::vector<std::string>{"i"});
}

TEST(Negotiation, Refusals) {
  auto error = [](std::string data) {
    auto r = decode_optneg(data, action::all, step::offered);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string("(agreed)");
  };
  EXPECT_EQ(error(be32(6) + be32(0)), "a negotiation of 8 octets (12 needed)");
  EXPECT_EQ(error(be32(1) + be32(0) + be32(0)), "protocol version 1 (we speak 2 to 6)");
  EXPECT_EQ(error(be32(7) + be32(0) + be32(0)), "protocol version 7 (we speak 2 to 6)");
  EXPECT_EQ(error(be32(6) + be32(0x200) + be32(0)), "actions we did not offer");
  EXPECT_EQ(error(be32(6) + be32(0) + be32(0x800)), "protocol steps we did not offer");
  EXPECT_EQ(error(be32(6) + be32(0) + be32(0) + "ab"), "a truncated macro list");
  EXPECT_EQ(error(be32(6) + be32(0) + be32(0) + be32(1) + "i"), "a macro list without its end");
  EXPECT_EQ(error(be32(6) + be32(0) + be32(0) + be32(9) + "i" + std::string(1, '\0')), "a macro list for stage 9");
  // libmilter's buffer-size flags are not ours to refuse.
  EXPECT_EQ(error(be32(6) + be32(0) + be32(0x10000000)), "(agreed)");
}

TEST(Responses, Simple) {
  using K = Response::Kind;
  EXPECT_EQ(decode_ok('a', "").kind, K::accept);
  EXPECT_EQ(decode_ok('c', "").kind, K::cont);
  EXPECT_EQ(decode_ok('r', "").kind, K::reject);
  EXPECT_EQ(decode_ok('t', "").kind, K::tempfail);
  EXPECT_EQ(decode_ok('d', "").kind, K::discard);
  EXPECT_EQ(decode_ok('s', "").kind, K::skip);
  EXPECT_EQ(decode_ok('p', "").kind, K::progress);
  EXPECT_EQ(decode_ok('4', "").kind, K::shutdown);
  EXPECT_EQ(decode_ok('f', "").kind, K::conn_fail);
  EXPECT_EQ(decode_error('Z', ""), "an unknown reply 'Z'");
  EXPECT_EQ(decode_error('\x01', ""), "an unknown reply 0x1");
}

TEST(Responses, ReplyCode) {
  auto r = decode_ok('y', std::string("451 4.7.1 Try again later\0", 26));
  EXPECT_EQ(r.kind, Response::Kind::reply_code);
  EXPECT_EQ(r.reply.code, 451);
  EXPECT_EQ(r.reply.enhanced, "4.7.1");
  EXPECT_EQ(r.reply.lines, std::vector<std::string>{"Try again later"});
  auto m = decode_ok('y', std::string("550-5.7.1 one\r\n550 5.7.1 two 100%% sure\0", 40));
  EXPECT_EQ(m.reply.code, 550);
  EXPECT_EQ(m.reply.lines, (std::vector<std::string>{"one", "two 100% sure"}));
  EXPECT_EQ(m.reply.wire(), "550-5.7.1 one\r\n550 5.7.1 two 100% sure\r\n");
  auto bare = decode_ok('y', std::string("554 rejected\0", 13));
  EXPECT_EQ(bare.reply.enhanced, "");
  EXPECT_EQ(decode_error('y', std::string("250 2.0.0 ok\0", 13)), "a malformed 'y' reply (not a 4xx or 5xx SMTP reply)");
  EXPECT_NE(decode_error('y', std::string("550-a\r\n451 b\0", 14)), "");
  EXPECT_NE(decode_error('y', std::string("550-a\r\n\0", 8)), "");
  EXPECT_NE(decode_error('y', std::string("550 a\r\n550 b\0", 14)), "");
  EXPECT_NE(decode_error('y', std::string("550 a\x01\0", 7)), "");
  EXPECT_EQ(decode_error('y', "550 no terminator"), "a malformed 'y' reply (not one string)");
  EXPECT_EQ(decode_error('y', std::string("550 a\0b\0", 8)), "a malformed 'y' reply (not one string)");
}

TEST(Responses, Modifications) {
  using K = Response::Kind;
  auto add = decode_ok('h', std::string("X-Spam\0yes\0", 11));
  EXPECT_EQ(add.kind, K::header);
  EXPECT_TRUE(add.modification());
  EXPECT_EQ(add.header.kind, HeaderChange::Kind::add);
  EXPECT_EQ(add.header.name, "X-Spam");
  EXPECT_EQ(add.header.value, "yes");
  auto ins = decode_ok('i', be32(3) + std::string("A\0b\0", 4));
  EXPECT_EQ(ins.header.kind, HeaderChange::Kind::insert);
  EXPECT_EQ(ins.header.index, 3u);
  auto chg = decode_ok('m', be32(1) + std::string("Subject\0\0", 9));
  EXPECT_EQ(chg.header.kind, HeaderChange::Kind::change);
  EXPECT_EQ(chg.header.value, "");
  EXPECT_NE(decode_error('m', "ab"), "");
  EXPECT_NE(decode_error('h', std::string("\0v\0", 3)), "");
  EXPECT_NE(decode_error('h', std::string("X A\0v\0", 6)), "");
  EXPECT_NE(decode_error('h', std::string("X:A\0v\0", 6)), "");
  EXPECT_NE(decode_error('h', std::string("X\0v", 3)), "");
  EXPECT_NE(decode_error('h', std::string("X\0v\0w\0", 6)), "");

  EXPECT_EQ(decode_ok('+', std::string("<a@b>\0", 6)).kind, K::add_rcpt);
  auto par = decode_ok('2', std::string("<a@b>\0NOTIFY=NEVER\0", 19));
  EXPECT_EQ(par.kind, K::add_rcpt);
  EXPECT_EQ(par.args, "NOTIFY=NEVER");
  EXPECT_EQ(decode_ok('-', std::string("<a@b>\0", 6)).text, "<a@b>");
  auto from = decode_ok('e', std::string("<n@b>\0", 6));
  EXPECT_EQ(from.kind, K::change_from);
  EXPECT_EQ(from.text, "<n@b>");
  EXPECT_NE(decode_error('-', std::string("<a@b>\0x\0", 8)), "");
  EXPECT_EQ(decode_ok('b', std::string("any\0bytes", 9)).text, std::string("any\0bytes", 9));
  EXPECT_EQ(decode_ok('q', std::string("why\0", 4)).text, "why");
}

}  // namespace
}  // namespace postern::milter
