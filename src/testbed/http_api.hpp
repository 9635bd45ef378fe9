// The testbed's web page and JSON API (SPEC §10), on cpp-httplib (Debian's
// libcpp-httplib: a maintained, dependency-free embedded server with its
// own thread pool) and nlohmann-json. Everything is read-only but DELETE
// of the messages and the rules, and POST of rules. Only for the developer's
// own browser and code: http::GuardedServer refuses foreign Host names and
// cross-site writes, and bounds connections, waits and event streams.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "testbed/messages.hpp"
#include "testbed/releases.hpp"
#include "testbed/scenarios.hpp"
#include "testbed/transcripts.hpp"

namespace postern::http {
class GuardedServer;
}

namespace postern::testbed {

class HttpApi {
 public:
  HttpApi(Messages& messages, Transcripts& transcripts, Scenarios& scenarios);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Host names the API answers beyond IP literals and localhost (--allowed-hosts; "*": any).
  void allow_hosts(const std::vector<std::string>& names);
  // Binds host:port (0: a free port) and returns the port. Throws std::runtime_error.
  int bind(const std::string& host, int port);
  // Release through the queue (release_api.hpp): its routes, and each
  // message's `releases`. Before start().
  void serve_releases(Releases& releases);
  // Serves on a thread of its own until stop().
  void start();
  void stop();

 private:
  void routes();

  Messages& messages_;
  Transcripts& transcripts_;
  Scenarios& scenarios_;
  Releases* releases_ = nullptr;
  std::unique_ptr<http::GuardedServer> http_;
  std::thread thread_;
};

// The page served at "/" (page.cpp).
extern const char* const page_html;

}  // namespace postern::testbed
