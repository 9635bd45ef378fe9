#include "dovecot/userdb_client.hpp"

#include <array>
#include <variant>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "dovecot/userdb_protocol.hpp"

namespace postern::dovecot {

using namespace asio::experimental::awaitable_operators;
namespace {

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kRequestId = 1;

UserLookup unreachable(std::string why) { return {UserLookup::Kind::unreachable, std::move(why)}; }

}  // namespace

asio::awaitable<UserLookup> lookup_user(asio::any_io_executor executor, ClientOptions options, std::string user) {
  asio::generic::stream_protocol::socket socket(executor);
  asio::steady_timer timer(executor);
  timer.expires_after(options.timeout);  // one deadline for the whole lookup

  if (!options.address.inet) {
    asio::local::stream_protocol::endpoint ep(options.address.path);
    auto r = co_await (socket.async_connect(asio::generic::stream_protocol::endpoint(ep), kTuple) ||
                       timer.async_wait(kTuple));
    if (r.index() == 1) co_return unreachable("timeout connecting");
    if (auto [ec] = std::get<0>(r); ec) co_return unreachable("cannot connect: " + ec.message());
  } else {
    asio::ip::tcp::resolver resolver(executor);
    auto rr = co_await (resolver.async_resolve(options.address.host, std::to_string(options.address.port), kTuple) ||
                        timer.async_wait(kTuple));
    if (rr.index() == 1) co_return unreachable("timeout resolving");
    auto [rec, results] = std::get<0>(rr);
    if (rec) co_return unreachable("cannot resolve: " + rec.message());
    std::string last = "no address";
    bool connected = false;
    for (const auto& entry : results) {
      asio::error_code ignored;
      socket.close(ignored);
      auto r = co_await (socket.async_connect(asio::generic::stream_protocol::endpoint(entry.endpoint()), kTuple) ||
                         timer.async_wait(kTuple));
      if (r.index() == 1) co_return unreachable("timeout connecting");
      auto [ec] = std::get<0>(r);
      if (!ec) {
        connected = true;
        break;
      }
      last = ec.message();
    }
    if (!connected) co_return unreachable("cannot connect: " + last);
  }

  const std::string request = userdb_request(kRequestId, user);
  auto w = co_await (asio::async_write(socket, asio::buffer(request), kTuple) || timer.async_wait(kTuple));
  if (w.index() == 1) co_return unreachable("timeout writing");
  if (auto [ec, n] = std::get<0>(w); ec) co_return unreachable("closed: " + ec.message());

  UserdbReader reader;
  std::array<char, 4096> buffer{};
  for (;;) {
    while (auto e = reader.next()) {
      if (auto* p = std::get_if<ProtocolError>(&*e)) co_return unreachable("protocol: " + p->what);
      if (auto* f = std::get_if<UserFound>(&*e); f && f->id == kRequestId)
        co_return UserLookup{UserLookup::Kind::found, f->user};
      if (auto* n = std::get_if<UserNotFound>(&*e); n && n->id == kRequestId)
        co_return UserLookup{UserLookup::Kind::not_found, {}};
      if (auto* x = std::get_if<UserLookupFailed>(&*e); x && x->id == kRequestId)
        co_return UserLookup{UserLookup::Kind::failed, x->reason};
    }
    auto r = co_await (socket.async_read_some(asio::buffer(buffer), kTuple) || timer.async_wait(kTuple));
    if (r.index() == 1) co_return unreachable("timeout waiting for the answer");
    auto [ec, n] = std::get<0>(r);
    if (ec) co_return unreachable(ec == asio::error::eof ? std::string("closed") : "closed: " + ec.message());
    reader.feed(std::string_view(buffer.data(), n));
  }
}

}  // namespace postern::dovecot
