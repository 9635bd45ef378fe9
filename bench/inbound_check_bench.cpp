// The CPU of the [inbound] checks of one message, without the network:
// a 7 KB message with one rsa-sha256 signature streamed through
// inbound::MessageCheck (header filter, DKIM body hash), then SPF for
// MAIL FROM and HELO, the DKIM verification and DMARC against an
// in-memory DNS. Run by bench/inbound_check; N messages (default 2000).
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include "dkim/key.hpp"
#include "dkim/signer.hpp"
#include "inbound/message_check.hpp"
using namespace postern::inbound;
class TableDns final : public DnsSource {
 public:
  std::map<std::string, std::string> txts;
  asio::awaitable<DnsAnswer> txt(std::string name) override {
    DnsAnswer a; auto it = txts.find(name);
    if (it != txts.end()) { a.status = DnsAnswer::Status::found; a.records.push_back(it->second); }
    co_return a; }
  asio::awaitable<DnsAnswer> addresses(std::string, bool) override { co_return DnsAnswer{}; }
  asio::awaitable<DnsAnswer> mx(std::string) override { co_return DnsAnswer{}; }
  asio::awaitable<DnsAnswer> ptr(asio::ip::address) override { co_return DnsAnswer{}; }
};
int main() {
  using namespace postern::dkim;
  SigningKey key{"example.com", "r1", Algorithm::rsa, generate(Algorithm::rsa), nullptr};
  std::string body;
  for (int i = 0; i < 100; ++i) body += "A line of a typical message body, some forty to eighty octets.\r\n";
  std::string msg = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: bench\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\nMessage-ID: <b@example.com>\r\n\r\n" + body;
  msg = sign(msg, {key}) + msg;
  TableDns dns;
  dns.txts["r1._domainkey.example.com"] = txt_record(key.pem);
  dns.txts["_dmarc.example.com"] = "v=DMARC1; p=reject";
  dns.txts["example.com"] = "v=spf1 ip4:192.0.2.0/24 -all";
  dns.txts["client.example"] = "v=spf1 a -all";
  const int n = getenv("N") ? atoi(getenv("N")) : 2000;
  std::clock_t c0 = std::clock();
  for (int i = 0; i < n; ++i) {
    MessageCheck check({true, true, true, true, "mx.example.org"}, {asio::ip::make_address("192.0.2.1"), "client.example", "alice@example.com"});
    for (size_t o = 0; o < msg.size(); o += 4096) check.feed(std::string_view(msg).substr(o, 4096));
    check.flush();
    asio::io_context io;
    CheckVerdict v;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { v = co_await check.finish(dns, 1800000000); }, asio::detached);
    io.run();
    if (i == 0) std::printf("%s (%zu octets)\n", v.summary.c_str(), msg.size());
  }
  std::printf("messages=%d cpu_per_message_us=%.1f\n", n, 1e6 * double(std::clock() - c0) / CLOCKS_PER_SEC / n);
}
