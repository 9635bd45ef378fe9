#include "dns/tlsa.hpp"

namespace postern::dns {
namespace {

constexpr std::uint16_t type_tlsa = 52;

struct Reader {
  std::string_view bytes;
  std::size_t at = 0;
  bool ok = true;

  std::uint8_t u8() {
    if (at + 1 > bytes.size()) return ok = false, 0;
    return static_cast<std::uint8_t>(bytes[at++]);
  }
  std::uint16_t u16() {
    const std::uint16_t hi = u8();
    return static_cast<std::uint16_t>(hi << 8 | u8());
  }
  void skip(std::size_t n) {
    if (n > bytes.size() - at) ok = false;
    else at += n;
  }
  // A name ends with a zero label or a compression pointer (RFC 1035 §4.1.4).
  void skip_name() {
    for (int labels = 0; ok && labels < 128; ++labels) {
      const std::uint8_t len = u8();
      if (len == 0) return;
      if ((len & 0xC0) == 0xC0) return skip(1);
      if ((len & 0xC0) != 0) return void(ok = false);
      skip(len);
    }
    ok = false;
  }
};

}  // namespace

std::string TlsaRecord::text() const {
  return std::to_string(usage) + " " + std::to_string(selector) + " " + std::to_string(matching) + " " + data;
}

std::optional<TlsaParsed> parse_tlsa_answer(std::string_view answer) {
  Reader r{answer};
  r.skip(2);
  const std::uint8_t flags_low = (r.u8(), r.u8());
  const std::uint16_t questions = r.u16(), answers = r.u16();
  r.skip(4);
  TlsaParsed out;
  out.authentic_data = (flags_low & 0x20) != 0;
  for (std::uint16_t i = 0; r.ok && i < questions; ++i) {
    r.skip_name();
    r.skip(4);
  }
  for (std::uint16_t i = 0; r.ok && i < answers; ++i) {
    r.skip_name();
    const std::uint16_t type = r.u16();
    r.skip(6);  // class, TTL
    const std::uint16_t length = r.u16();
    if (!r.ok || length > answer.size() - r.at) return std::nullopt;
    if (type != type_tlsa || out.records.size() >= max_tlsa_records) {
      r.skip(length);
      continue;
    }
    if (length < 3) return std::nullopt;
    TlsaRecord rec;
    rec.usage = r.u8();
    rec.selector = r.u8();
    rec.matching = r.u8();
    static constexpr char hex[] = "0123456789abcdef";
    for (std::uint16_t k = 3; k < length; ++k) {
      const std::uint8_t b = r.u8();
      rec.data += hex[b >> 4];
      rec.data += hex[b & 15];
    }
    out.records.push_back(std::move(rec));
  }
  if (!r.ok) return std::nullopt;
  return out;
}

}  // namespace postern::dns
