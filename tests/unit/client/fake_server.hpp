// A scripted SMTP server for client tests: a map from command verb to the
// replies it gets, consumed in order (the last one sticks), so "450 then
// 250" is {"RCPT", {"450 4.2.0 Greylisted", "250 OK"}}. The reply "DROP"
// closes the connection instead of answering; "SILENT" answers nothing.
// Runs on the test's io_context; records every command and message.
#pragma once

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <algorithm>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace postern::client::testing {

struct Script {
  std::string greeting = "220 fake.example ESMTP";
  std::map<std::string, std::deque<std::string>> replies;
};

class FakeServer {
 public:
  FakeServer(asio::io_context& io, Script script)
      : acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), script_(std::move(script)) {
    asio::co_spawn(io, serve(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }

  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
  void stop() {
    asio::error_code ec;
    acceptor_.close(ec);
  }

  std::vector<std::string> commands;   // every line received outside DATA
  std::vector<std::string> messages;   // message bodies, dot-unstuffed, CRLF
  std::vector<std::size_t> batch_sizes;  // lines that arrived before each reply was written
  int connections = 0;

 private:
  std::string next_reply(const std::string& verb) {
    auto it = script_.replies.find(verb);
    if (it != script_.replies.end() && !it->second.empty()) {
      std::string r = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
      return r;
    }
    if (verb == "EHLO") return "250 fake.example";
    if (verb == "HELO") return "250 fake.example";
    if (verb == "MAIL" || verb == "RCPT" || verb == "RSET" || verb == "NOOP") return "250 2.0.0 OK";
    if (verb == "DATA") return "354 Go ahead";
    if (verb == ".") return "250 2.0.0 Queued";
    if (verb == "QUIT") return "221 2.0.0 Bye";
    return "500 5.5.1 Unknown command";
  }

  asio::awaitable<void> serve() {
    constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);
    while (true) {
      auto [ec, sock] = co_await acceptor_.async_accept(tuple);
      if (ec) co_return;
      ++connections;
      co_await session(std::move(sock));
    }
  }

  asio::awaitable<void> session(asio::ip::tcp::socket sock) {
    constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);
    std::string buf;
    auto send = [&](std::string reply) -> asio::awaitable<bool> {
      if (reply == "DROP") {
        asio::error_code ignored;
        sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        sock.close(ignored);
        co_return false;
      }
      if (reply == "SILENT") co_return true;
      reply += "\r\n";
      auto [ec, n] = co_await asio::async_write(sock, asio::buffer(reply), tuple);
      co_return !ec;
    };
    if (!co_await send(script_.greeting)) co_return;
    bool in_data = false, last_334 = false;
    std::string message;
    std::size_t lines_since_reply = 0;
    while (true) {
      auto lf = buf.find("\r\n");
      if (lf == std::string::npos) {
        char chunk[4096];
        auto [ec, n] = co_await sock.async_read_some(asio::buffer(chunk), tuple);
        if (ec) co_return;
        buf.append(chunk, n);
        continue;
      }
      std::string line = buf.substr(0, lf);
      buf.erase(0, lf + 2);
      ++lines_since_reply;
      if (in_data) {
        if (line == ".") {
          in_data = false;
          messages.push_back(message);
          message.clear();
          batch_sizes.push_back(lines_since_reply);
          lines_since_reply = 0;
          if (!co_await send(next_reply("."))) co_return;
          continue;
        }
        if (!line.empty() && line[0] == '.') line.erase(0, 1);
        message += line + "\r\n";
        continue;
      }
      commands.push_back(line);
      // The verb is the first word up to a space or ':'; a line answering a
      // 334 challenge is looked up as "RESPONSE".
      std::string verb = line.substr(0, line.find_first_of(" :"));
      for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (last_334) verb = "RESPONSE";
      std::string reply = next_reply(verb);
      last_334 = reply.rfind("334", 0) == 0;
      // Lines already buffered when this reply goes out were pipelined.
      batch_sizes.push_back(lines_since_reply + std::count(buf.begin(), buf.end(), '\n'));
      lines_since_reply = 0;
      if (!co_await send(reply)) co_return;
      if (verb == "DATA" && reply.rfind("354", 0) == 0) in_data = true;
      if (verb == "QUIT") co_return;
      if (verb == "STARTTLS") co_return;  // no TLS in the fake; the client handshake fails
    }
  }

  asio::ip::tcp::acceptor acceptor_;
  Script script_;
};

}  // namespace postern::client::testing
