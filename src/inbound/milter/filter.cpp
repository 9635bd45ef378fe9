#include "inbound/milter/filter.hpp"

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <algorithm>
#include <array>
#include <memory>

namespace postern::milter {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
}

Filter::Filter(asio::any_io_executor executor, config::Milter settings)
    : settings_(std::move(settings)), socket_(executor), deadline_(executor, [this] {
        asio::error_code ignored;
        socket_.cancel(ignored);
      }) {}

Filter::~Filter() { close(); }

void Filter::close() {
  open_ = false;
  deadline_.disarm();
  asio::error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<std::optional<std::string>> Filter::connect() {
  if (!settings_.socket.empty()) {
    asio::local::stream_protocol::endpoint local(settings_.socket.string());
    asio::generic::stream_protocol::endpoint endpoint(local);
    auto [ec] = co_await socket_.async_connect(endpoint, use_tuple);
    if (ec) co_return deadline_.expired() ? std::string("connect timed out") : "connect: " + ec.message();
    co_return std::nullopt;
  }
  // getaddrinfo runs to its end whatever is cancelled, so the lookup is
  // not awaited: it reports to a shared state (which keeps the resolver
  // alive) and wakes this wait, which also ends at the timeout.
  struct Lookup {
    explicit Lookup(const asio::any_io_executor& e) : resolver(e), wake(e) {}
    asio::ip::tcp::resolver resolver;
    asio::steady_timer wake;
    bool done = false;
    asio::error_code ec;
    asio::ip::tcp::resolver::results_type results;
  };
  auto lookup = std::make_shared<Lookup>(socket_.get_executor());
  lookup->wake.expires_after(settings_.timeout);
  lookup->resolver.async_resolve(settings_.host, std::to_string(settings_.port),
                                 [lookup](const asio::error_code& ec, asio::ip::tcp::resolver::results_type results) {
                                   lookup->done = true;
                                   lookup->ec = ec;
                                   lookup->results = std::move(results);
                                   lookup->wake.cancel();
                                 });
  co_await lookup->wake.async_wait(use_tuple);
  if (!lookup->done) co_return "resolve " + settings_.host + ": timed out";
  const auto rec = lookup->ec;
  const auto results = std::move(lookup->results);
  if (rec) co_return "resolve " + settings_.host + ": " + rec.message();
  std::string last = "no address";
  for (const auto& entry : results) {
    if (deadline_.expired()) co_return std::string("connect timed out");
    asio::error_code ignored;
    socket_.close(ignored);
    asio::generic::stream_protocol::endpoint endpoint(entry.endpoint());
    auto [ec] = co_await socket_.async_connect(endpoint, use_tuple);
    if (!ec) co_return std::nullopt;
    last = deadline_.expired() ? std::string("timed out") : ec.message();
  }
  co_return "connect: " + last;
}

asio::awaitable<std::optional<std::string>> Filter::open() {
  deadline_.arm(settings_.timeout);
  if (auto error = co_await connect()) {
    close();
    co_return error;
  }
  open_ = true;
  if (auto error = co_await send(optneg_packet(protocol_version, action::all, step::offered))) co_return error;
  deadline_.arm(settings_.timeout);
  auto answer = co_await next_packet();
  deadline_.disarm();
  if (auto* error = std::get_if<std::string>(&answer)) co_return *error;
  auto& p = std::get<Packet>(answer);
  if (p.command != rep::optneg) {
    close();
    co_return std::string("no answer to the option negotiation");
  }
  auto decoded = decode_optneg(p.data, action::all, step::offered);
  if (auto* error = std::get_if<std::string>(&decoded)) {
    close();
    co_return "negotiation: " + *error;
  }
  options_ = std::get<Negotiated>(std::move(decoded));
  co_return std::nullopt;
}

asio::awaitable<std::optional<std::string>> Filter::send(const std::string& bytes) {
  if (!open_) co_return std::string("not connected");
  deadline_.arm(settings_.timeout);
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), use_tuple);
  deadline_.disarm();
  if (ec) {
    const bool late = deadline_.expired();
    close();
    co_return late ? std::string("write timed out") : "write: " + ec.message();
  }
  co_return std::nullopt;
}

asio::awaitable<std::variant<Packet, std::string>> Filter::next_packet() {
  std::array<char, 16384> buffer;
  for (;;) {
    if (auto p = reader_.next()) co_return std::move(*p);
    if (reader_.failed()) {
      auto error = "sent " + reader_.error();
      close();
      co_return error;
    }
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer), use_tuple);
    if (ec) {
      const bool late = deadline_.expired();
      close();
      co_return late ? std::string("no reply in time") : ec == asio::error::eof ? std::string("closed the connection")
                                                                                 : "read: " + ec.message();
    }
    reader_.feed(std::string_view(buffer.data(), n));
  }
}

void Filter::begin_stage() {
  stage_bound_ = net::Deadline::clock::now() + settings_.timeout * max_progress_factor;
}

asio::awaitable<std::variant<Response, std::string>> Filter::reply() {
  using clock = net::Deadline::clock;
  if (!open_) co_return std::string("not connected");
  if (!stage_bound_) begin_stage();
  const auto bound = *stage_bound_;
  // The filter's timeout, cut short by the bound on the whole event.
  auto arm = [&]() -> bool {
    const auto now = clock::now();
    if (now >= bound) return false;
    deadline_.arm(std::min<clock::duration>(settings_.timeout, bound - now));
    return true;
  };
  const auto past_bound = [&] {
    close();
    return "no final reply within " + std::to_string(settings_.timeout.count() * max_progress_factor) +
           "s (progress reports do not extend that)";
  };
  if (!arm()) co_return past_bound();
  for (;;) {
    auto next = co_await next_packet();
    if (auto* error = std::get_if<std::string>(&next)) {
      if (clock::now() >= bound) co_return past_bound();
      co_return std::move(*error);
    }
    auto decoded = decode_response(std::get<Packet>(next));
    if (auto* error = std::get_if<std::string>(&decoded)) {
      close();
      co_return "sent " + *error;
    }
    auto& r = std::get<Response>(decoded);
    if (r.kind == Response::Kind::progress) {
      if (!arm()) co_return past_bound();  // still working: a new deadline, within the bound
      continue;
    }
    deadline_.disarm();
    co_return std::move(r);
  }
}

}  // namespace postern::milter
