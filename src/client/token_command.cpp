#include "client/token_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sasl/secrets.hpp"

extern char** environ;

namespace postern::client {

namespace {

constexpr std::size_t kMaxOutput = 64 * 1024;  // a JWT is a few KiB

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "ended abnormally";
}

}  // namespace

TokenResult run_token_command(const std::string& command, std::chrono::seconds timeout) {
  TokenResult r;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    r.error = std::string("cannot make a pipe for the token command: ") + std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    r.error = std::string("cannot run the token command: ") + std::strerror(rc);
    return r;
  }

  std::string out;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      timed_out = n == 0;
      break;
    }
    ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (out.size() < kMaxOutput) out.append(buf, static_cast<std::size_t>(got));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  std::string token = out.substr(0, out.find('\n'));
  if (!token.empty() && token.back() == '\r') token.pop_back();
  sasl::wipe(out);
  if (timed_out) {
    sasl::wipe(token);
    r.error = "the token command did not finish within " + std::to_string(timeout.count()) + " seconds";
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    sasl::wipe(token);
    r.error = "the token command " + describe_status(status);
  } else if (token.empty()) {
    r.error = "the token command printed no token (its first line of output is empty)";
  } else {
    r.token = std::move(token);
  }
  return r;
}

}  // namespace postern::client
