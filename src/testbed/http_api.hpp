// The testbed's web page and JSON API (SPEC §10), on cpp-httplib (Debian's
// libcpp-httplib: a maintained, dependency-free embedded server with its
// own thread pool) and nlohmann-json. Everything is read-only but DELETE
// of the messages and the rules, and POST of rules.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "testbed/messages.hpp"
#include "testbed/scenarios.hpp"
#include "testbed/transcripts.hpp"

namespace httplib {
class Server;
}

namespace postern::testbed {

class HttpApi {
 public:
  HttpApi(Messages& messages, Transcripts& transcripts, Scenarios& scenarios);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds host:port (0: a free port) and returns the port. Throws std::runtime_error.
  int bind(const std::string& host, int port);
  // Serves on a thread of its own until stop().
  void start();
  void stop();

 private:
  void routes();

  Messages& messages_;
  Transcripts& transcripts_;
  Scenarios& scenarios_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

// The page served at "/" (page.cpp).
extern const char* const page_html;

}  // namespace postern::testbed
