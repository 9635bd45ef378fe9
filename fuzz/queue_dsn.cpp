// Fuzz target for the DSN builder (RFC 3464): the reply text, addresses and
// host names of a bounce come from remote servers. Fields are cut from the
// input at NUL octets. The DSN must keep CRLF line endings only, and its
// human-readable and delivery-status parts must hold nothing but printable
// ASCII: no injected header or part, no escape sequence for the reader.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "queue/dsn.hpp"

using namespace postern::queue;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> f;
  for (std::size_t start = 0; f.size() < 6;) {
    auto nul = in.find('\0', start);
    f.emplace_back(in.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  f.resize(6);
  DsnReport r;
  r.reporting_mta = "mx.example.org";
  r.queue_id = "0123456789abcdef";
  r.original_sender = f[0];
  r.original_message = "Subject: x\r\n\r\nbody\r\n";
  r.boundary = "b0undary";
  DsnRecipient rcpt;
  rcpt.address = f[1];
  rcpt.remote_mta = f[2];
  rcpt.diagnostic = f[3];
  rcpt.diagnostic_is_smtp = !f[4].empty();
  rcpt.status = "5.1.1";
  r.recipients.push_back(rcpt);
  const std::string dsn = build_dsn(r);
  for (std::size_t i = 0; i < dsn.size(); ++i) {
    if (dsn[i] == '\n' && (i == 0 || dsn[i - 1] != '\r')) std::abort();
    if (dsn[i] == '\r' && (i + 1 >= dsn.size() || dsn[i + 1] != '\n')) std::abort();
  }
  const auto headers_part = dsn.find("Content-Type: text/rfc822-headers");
  if (headers_part == std::string::npos) std::abort();
  for (std::size_t i = 0; i < headers_part; ++i) {
    unsigned char c = static_cast<unsigned char>(dsn[i]);
    if (c == '\r' || c == '\n' || c == '\t') continue;  // tab: folding
    if (c < 0x20 || c >= 0x7f) std::abort();
  }
  // A delimiter line starts only where the builder put one, whatever a
  // remote text holds (folded lines start with a space).
  auto delimiters = [](const std::string& m) {
    std::size_t n = 0;
    for (auto p = m.find("\r\n--b0undary"); p != std::string::npos; p = m.find("\r\n--b0undary", p + 1)) ++n;
    return n;
  };
  DsnReport plain = r;
  plain.original_sender = "a@b.example";
  plain.recipients[0].address = "c@d.example";
  plain.recipients[0].remote_mta = "mx.d.example";
  plain.recipients[0].diagnostic = "550 5.1.1 no";
  if (delimiters(dsn) != delimiters(build_dsn(plain))) std::abort();
  return 0;
}
