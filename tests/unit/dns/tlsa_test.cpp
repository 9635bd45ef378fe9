#include "dns/tlsa.hpp"

#include <gtest/gtest.h>

namespace postern::dns {
namespace {

// A response to "_25._tcp.mx.test TLSA": header, question, then `answers`.
std::string response(std::uint8_t flags_low, int count, const std::string& answers) {
  std::string r("\x12\x34\x81", 3);
  r += static_cast<char>(flags_low);
  r += std::string("\x00\x01\x00", 3) + static_cast<char>(count) + std::string(4, '\0');
  r += std::string("\x03_25\x04_tcp\x02mx\x04test\x00", 18) + std::string("\x00\x34\x00\x01", 4);
  return r + answers;
}

std::string tlsa_rr(const std::string& rdata) {
  std::string rr("\xc0\x0c\x00\x34\x00\x01\x00\x00\x0e\x10", 10);
  rr += static_cast<char>(rdata.size() >> 8);
  rr += static_cast<char>(rdata.size() & 0xff);
  return rr + rdata;
}

TEST(TlsaParse, ReadsRecordsAndTheAdBit) {
  const auto a = response(0x20, 2, tlsa_rr(std::string("\x03\x01\x01\xab\xcd", 5)) +
                                       tlsa_rr(std::string("\x02\x00\x00\x01", 4)));
  auto parsed = parse_tlsa_answer(a);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->authentic_data);
  ASSERT_EQ(parsed->records.size(), 2u);
  EXPECT_EQ(parsed->records[0].text(), "3 1 1 abcd");
  EXPECT_EQ(parsed->records[1].text(), "2 0 0 01");
}

TEST(TlsaParse, WithoutAdIsNotAuthentic) {
  auto parsed = parse_tlsa_answer(response(0x00, 1, tlsa_rr(std::string("\x03\x01\x01\xff", 4))));
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->authentic_data);
  ASSERT_EQ(parsed->records.size(), 1u);
}

TEST(TlsaParse, IgnoresOtherTypes) {
  std::string cname("\xc0\x0c\x00\x05\x00\x01\x00\x00\x0e\x10\x00\x02\xc0\x0c", 14);
  auto parsed = parse_tlsa_answer(response(0, 1, cname));
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->records.empty());
}

TEST(TlsaParse, RejectsTruncatedAndShortRecords) {
  const auto whole = response(0, 1, tlsa_rr(std::string("\x03\x01\x01\xab\xcd", 5)));
  for (std::size_t n = 0; n < whole.size(); ++n) EXPECT_FALSE(parse_tlsa_answer(whole.substr(0, n))) << n;
  EXPECT_FALSE(parse_tlsa_answer(response(0, 1, tlsa_rr(std::string("\x03\x01", 2)))));
}

TEST(TlsaParse, KeepsAtMostTheLimit) {
  std::string many;
  for (int i = 0; i < 40; ++i) many += tlsa_rr(std::string("\x03\x01\x01\x00", 4));
  auto parsed = parse_tlsa_answer(response(0, 40, many));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->records.size(), max_tlsa_records);
}

}  // namespace
}  // namespace postern::dns
