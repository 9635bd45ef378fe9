// libFuzzer target for the reader of Dovecot's auth-client protocol
// (dovecot/auth_protocol.hpp): arbitrary bytes from the auth service, fed
// whole and in pieces. Besides "no crash": the same events either way;
// nothing after a ProtocolError; limits hold; tab-escaping round-trips.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dovecot/auth_protocol.hpp"

using namespace postern::dovecot;

namespace {

std::vector<Event> drain(AuthReader& r) {
  std::vector<Event> out;
  while (auto e = r.next()) {
    out.push_back(std::move(*e));
    if (out.size() > 100000) std::abort();
  }
  return out;
}

void check(const Event& e) {
  if (auto* h = std::get_if<HandshakeDone>(&e)) {
    if (h->major != kProtocolMajor || h->mechanisms.size() > kMaxMechanisms) std::abort();
    for (auto& m : h->mechanisms)
      if (m.name.empty() || m.name.size() > 20) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  AuthReader whole;
  whole.feed(in);
  auto a = drain(whole);

  AuthReader pieces;
  std::vector<Event> b;
  std::size_t step = size % 7 + 1;
  for (std::size_t i = 0; i < size; i += step) {
    pieces.feed(in.substr(i, step));
    for (auto& e : drain(pieces)) b.push_back(std::move(e));
  }
  if (a.size() != b.size()) std::abort();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].index() != b[i].index()) std::abort();
    check(a[i]);
    if (std::holds_alternative<ProtocolError>(a[i]) && i + 1 != a.size()) std::abort();
  }

  if (tab_unescape(tab_escape(in)) != in) std::abort();
  auto escaped = tab_escape(in);
  if (escaped.find('\t') != std::string::npos || escaped.find('\n') != std::string::npos) std::abort();
  (void)parse_socket_address(in);
  return 0;
}
