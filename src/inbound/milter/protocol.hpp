// The Sendmail/Postfix milter protocol, version 6, the MTA's side, without
// I/O: the packet framing (a 4-byte big-endian length that counts the
// command byte, the command byte, its data), the commands we send, the
// option negotiation and the filter's replies decoded into values. Every
// decoder takes bytes from the filter and returns a value or an error
// text; none trusts a length, a count or a terminator it did not check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "smtp/reply.hpp"

namespace postern::milter {

inline constexpr std::uint32_t protocol_version = 6;
// The largest body chunk one SMFIC_BODY carries (libmilter's MILTER_CHUNK_SIZE).
inline constexpr std::size_t body_chunk_octets = 65535;
// The largest packet we accept from a filter: a replacement body chunk, a
// header or a reply, with room to spare (libmilter's default is 64 KiB,
// SMFIP_MDS_1M allows 1 MiB).
inline constexpr std::size_t default_max_packet_octets = 1024 * 1024 + 64;

// Commands (MTA to filter).
namespace cmd {
inline constexpr char abort = 'A', body = 'B', connect = 'C', macro = 'D', eob = 'E', helo = 'H', quit_nc = 'K',
                      header = 'L', mail = 'M', eoh = 'N', optneg = 'O', quit = 'Q', rcpt = 'R', data = 'T',
                      unknown = 'U';
}
// Replies (filter to MTA).
namespace rep {
inline constexpr char addrcpt = '+', delrcpt = '-', addrcpt_par = '2', shutdown = '4', accept = 'a', replbody = 'b',
                      cont = 'c', discard = 'd', chgfrom = 'e', conn_fail = 'f', addheader = 'h', insheader = 'i',
                      setsymlist = 'l', chgheader = 'm', progress = 'p', quarantine = 'q', reject = 'r', skip = 's',
                      tempfail = 't', replycode = 'y', optneg = 'O';
}
// Actions a filter may take at end of message (SMFIF_*).
namespace action {
inline constexpr std::uint32_t addhdrs = 0x01, chgbody = 0x02, addrcpt = 0x04, delrcpt = 0x08, chghdrs = 0x10,
                               quarantine = 0x20, chgfrom = 0x40, addrcpt_par = 0x80, setsymlist = 0x100;
inline constexpr std::uint32_t all = 0x1ff;
}
// Protocol steps a filter may ask us to leave out or not to wait for (SMFIP_*).
namespace step {
inline constexpr std::uint32_t noconnect = 0x1, nohelo = 0x2, nomail = 0x4, norcpt = 0x8, nobody = 0x10,
                               nohdrs = 0x20, noeoh = 0x40, nr_hdr = 0x80, nounknown = 0x100, nodata = 0x200,
                               skip = 0x400, rcpt_rej = 0x800, nr_conn = 0x1000, nr_helo = 0x2000,
                               nr_mail = 0x4000, nr_rcpt = 0x8000, nr_data = 0x10000, nr_unkn = 0x20000,
                               nr_eoh = 0x40000, nr_body = 0x80000, hdr_leadspc = 0x100000;
// Everything we can honour. (RCPT_REJ is not offered: rejected recipients
// are not shown to filters. The MDS_* size flags are not offered: we read
// packets up to default_max_packet_octets whatever the filter chose.)
inline constexpr std::uint32_t offered = noconnect | nohelo | nomail | norcpt | nobody | nohdrs | noeoh | nr_hdr |
                                         nounknown | nodata | skip | nr_conn | nr_helo | nr_mail | nr_rcpt |
                                         nr_data | nr_unkn | nr_eoh | nr_body | hdr_leadspc;
}

// The stages a macro list belongs to (SMFIM_*), as SETSYMLIST numbers them.
enum class MacroStage : std::uint32_t { connect = 0, helo = 1, mail = 2, rcpt = 3, data = 4, eom = 5, eoh = 6 };
inline constexpr std::size_t macro_stages = 7;

using Macros = std::vector<std::pair<std::string, std::string>>;

// ---- Encoding (what we send) ----
std::string packet(char command, std::string_view data = {});
std::string optneg_packet(std::uint32_t version, std::uint32_t actions, std::uint32_t steps);
// SMFIC_MACRO for the command `for_command`; names in braces as Postfix sends them ("{client_addr}", "j").
std::string macro_packet(char for_command, const Macros& macros);
// SMFIC_CONNECT. `family`: '4', '6', 'L' (unix socket) or 'U' (unknown, then no port or address).
std::string connect_packet(std::string_view hostname, char family, std::uint16_t port, std::string_view address);
// NUL-terminated strings: HELO (one), MAIL and RCPT ("<addr>" then ESMTP parameters), HEADER (name, value).
std::string strings_packet(char command, const std::vector<std::string>& strings);

// ---- The packet reader ----
struct Packet {
  char command = 0;
  std::string data;
};

// Cuts packets out of the byte stream from a filter. I/O-free: feed what
// was read, take packets while there are some. A length of 0 or over the
// limit is an error that sticks (the stream cannot be resynchronised).
class PacketReader {
 public:
  explicit PacketReader(std::size_t max_packet_octets = default_max_packet_octets) : max_(max_packet_octets) {}
  void feed(std::string_view bytes);
  // The next whole packet; nullopt when more bytes are needed or after an error.
  std::optional<Packet> next();
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes held that do not make a packet yet.
  std::size_t buffered() const { return buffer_.size() - start_; }

 private:
  std::size_t max_;
  std::string buffer_;
  std::size_t start_ = 0;
  std::string error_;
};

// ---- Decoding (what the filter sends) ----
struct Negotiated {
  std::uint32_t version = 0;
  std::uint32_t actions = 0;
  std::uint32_t steps = 0;
  // Per MacroStage, the macros the filter asked for (SETSYMLIST in the
  // negotiation); nullopt: send what we have.
  std::optional<std::vector<std::string>> macros[macro_stages];
};
// The filter's SMFIC_OPTNEG answer, checked against what we offered.
// Returns the agreement, or an error text.
std::variant<Negotiated, std::string> decode_optneg(std::string_view data, std::uint32_t offered_actions,
                                                    std::uint32_t offered_steps);

struct HeaderChange {
  enum class Kind { add, insert, change } kind = Kind::add;
  std::uint32_t index = 0;  // insert: position (0 = first); change: the n-th field of that name (1 = first)
  std::string name;
  std::string value;  // change with an empty value deletes the field
};

// One reply of a filter, decoded.
struct Response {
  enum class Kind {
    accept, cont, reject, tempfail, discard, reply_code, skip, progress, shutdown, conn_fail,
    header, add_rcpt, del_rcpt, change_from, replace_body, quarantine
  } kind = Kind::cont;
  smtp::Reply reply;    // reply_code
  HeaderChange header;  // header
  std::string text;     // add_rcpt/del_rcpt/change_from: the address; quarantine: the reason; replace_body: the octets
  std::string args;     // add_rcpt (ADDRCPT_PAR) and change_from: ESMTP parameters
  // End-of-message actions (modifications); anything else ends the wait for a command's reply.
  bool modification() const;
};
// Decodes one packet of a filter; an error text for an unknown command,
// a malformed argument, or an SMFIR_REPLYCODE that is not a 4xx/5xx reply.
std::variant<Response, std::string> decode_response(const Packet& packet);

// "550 5.7.1 text" or a multi-line "550-5.7.1 a\r\n550 5.7.1 b" as a Reply;
// nullopt unless every line is 4xx or 5xx with the same code. `%%` reads as `%`.
std::optional<smtp::Reply> parse_reply_code(std::string_view text);

}  // namespace postern::milter
