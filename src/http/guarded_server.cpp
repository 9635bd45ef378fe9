#include "http/guarded_server.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <thread>

#include "util/strings.hpp"

namespace postern::http {
namespace {

using Clock = std::chrono::steady_clock;

// The socket as cpp-httplib's Stream, every read and write bounded by the
// request's deadline as well as by the silence allowed between packets.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, std::chrono::milliseconds io_timeout) : fd_(fd), io_timeout_(io_timeout) {}

  void set_deadline(Clock::time_point deadline) { deadline_ = deadline; }
  void lift_deadline() { deadline_ = Clock::time_point::max(); }
  bool has_buffered() const { return begin_ < end_; }
  // Waits up to `timeout` for the next request (keep-alive).
  bool next_request(std::chrono::milliseconds timeout) const { return has_buffered() || ready(POLLIN, timeout); }

  bool is_readable() const override { return has_buffered() || ready(POLLIN, budget()); }
  bool is_writable() const override { return ready(POLLOUT, budget()); }

  ssize_t read(char* out, std::size_t size) override {
    if (!has_buffered()) {
      if (!ready(POLLIN, budget())) return -1;
      const ssize_t n = recv_some(buffer_, sizeof buffer_);
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<std::size_t>(n);
    }
    const std::size_t n = std::min(size, end_ - begin_);
    std::memcpy(out, buffer_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* data, std::size_t size) override {
    if (!ready(POLLOUT, budget())) return -1;
    for (;;) {
      const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(::getsockname, ip, port); }
  socket_t socket() const override { return fd_; }

 private:
  std::chrono::milliseconds budget() const {
    if (deadline_ == Clock::time_point::max()) return io_timeout_;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    return std::clamp(left, std::chrono::milliseconds(0), io_timeout_);
  }

  bool ready(short events, std::chrono::milliseconds timeout) const {
    if (timeout.count() <= 0) return false;
    pollfd p{fd_, events, 0};
    const auto until = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      const int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
      if (n < 0 && errno == EINTR) continue;
      return n > 0;
    }
  }

  ssize_t recv_some(char* out, std::size_t size) {
    for (;;) {
      const ssize_t n = ::recv(fd_, out, size, 0);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }

  template <typename Get>
  void address(Get get, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    char host[NI_MAXHOST], service[NI_MAXSERV];
    if (get(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
        ::getnameinfo(reinterpret_cast<sockaddr*>(&a), len, host, sizeof host, service, sizeof service,
                      NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      return;
    ip = host;
    port = std::atoi(service);
  }

  int fd_;
  std::chrono::milliseconds io_timeout_;
  Clock::time_point deadline_ = Clock::time_point::max();
  char buffer_[4096];
  std::size_t begin_ = 0, end_ = 0;
};

// A thread for each connection, joined when it ends or at shutdown; the
// number is bounded by GuardedServer::admit().
class ConnectionThreads final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mutex_);
    reap();
    auto done = std::make_shared<std::atomic<bool>>(false);
    auto task = std::make_shared<std::function<void()>>(std::move(fn));
    try {
      threads_.push_back({std::thread([task, done] {
                            (*task)();
                            *done = true;
                          }),
                          done});
    } catch (const std::system_error&) {
      (*task)();  // no thread to be had: serve it here (it closes the socket either way)
    }
  }

  void shutdown() override {
    std::list<Entry> all;
    {
      std::lock_guard lock(mutex_);
      all.swap(threads_);
    }
    for (auto& e : all) e.thread.join();
  }

 private:
  struct Entry {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void reap() {
    for (auto it = threads_.begin(); it != threads_.end();) {
      if (*it->done) {
        it->thread.join();
        it = threads_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::mutex mutex_;
  std::list<Entry> threads_;
};

// The connection being served on this thread.
struct Current {
  int fd;
  ConnectionStream* stream;
  bool close_after = false;  // a refused request: its body is not read
};
thread_local Current* current = nullptr;

// Closes after a refused request without resetting the connection: the
// client's unread body is drained (bounded) so that it reads the answer.
void close_draining(int fd) {
  ::shutdown(fd, SHUT_WR);
  const auto until = Clock::now() + std::chrono::seconds(1);
  char sink[16384];
  for (std::size_t total = 0; total < (1u << 20) && Clock::now() < until;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, sink, sizeof sink, 0);
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// RFC 9112: a request whose framing or target is ambiguous gets 400, since
// a proxy in front may read it otherwise (§3.2 Host, §6.3 Content-Length).
std::optional<Refusal> framing_error(const httplib::Request& req) {
  const auto hosts = req.get_header_value_count("Host");
  if (hosts > 1) return Refusal{400, "more than one Host header"};
  if (hosts == 0 && req.version == "HTTP/1.1") return Refusal{400, "an HTTP/1.1 request needs a Host header"};
  const auto lengths = req.get_header_value_count("Content-Length");
  if (lengths > 1) return Refusal{400, "more than one Content-Length header"};
  if (lengths == 1) {
    const std::string length = req.get_header_value("Content-Length");
    if (length.empty() || length.size() > 18 || length.find_first_not_of("0123456789") != std::string::npos)
      return Refusal{400, "Content-Length is not a number of octets"};
  }
  if (req.has_header("Transfer-Encoding") && lengths == 1)
    return Refusal{400, "both Transfer-Encoding and Content-Length"};
  return std::nullopt;
}

}  // namespace

GuardedServer::GuardedServer(HostAllowlist hosts, std::string allow_hint, Refuse refuse, ServerLimits limits)
    : hosts_(std::move(hosts)), limits_(limits) {
  new_task_queue = [] { return new ConnectionThreads; };
  set_pre_routing_handler([this, allow_hint, refuse](const httplib::Request& req, httplib::Response& res) {
    std::optional<Refusal> refusal = framing_error(req);
    const std::string host = req.get_header_value("Host");
    if (refusal) {
      // Nothing else is read of a request that cannot be read one way only.
    } else if (!hosts_.allows(host)) {
      refusal = Refusal{403, "Host " + util::printable(host, 100) + " is not allowed (DNS rebinding?); " + allow_hint};
    } else {
      const std::string origin = req.get_header_value("Origin"), site = req.get_header_value("Sec-Fetch-Site"),
                        mode = req.get_header_value("Sec-Fetch-Mode"), dest = req.get_header_value("Sec-Fetch-Dest"), type = req.get_header_value("Content-Type"),
                        length = req.get_header_value("Content-Length");
      const bool has_body = req.has_header("Transfer-Encoding") || (!length.empty() && length != "0");
      refusal = refuse_cross_site({req.method, host, origin, site, mode, dest, type, has_body});
      // cpp-httplib reads a chunked body whole, past the payload limit: only Content-Length is taken.
      if (!refusal && req.has_header("Transfer-Encoding"))
        refusal = Refusal{411, "send the body with a Content-Length (a chunked body is not accepted)"};
    }
    if (!refusal) return HandlerResponse::Unhandled;
    if (current) current->close_after = true;
    res.set_header("Connection", "close");
    refuse(req, res, refusal->status, refusal->reason);
    return HandlerResponse::Handled;
  });
}

GuardedServer::~GuardedServer() = default;

std::shared_ptr<void> GuardedServer::wait_slot() {
  if (waiting_.fetch_add(1) >= limits_.max_waiting) {
    --waiting_;
    return nullptr;
  }
  if (current) current->stream->lift_deadline();
  return std::shared_ptr<void>(this, [](GuardedServer* server) { --server->waiting_; });
}

bool GuardedServer::client_gone() {
  if (!current) return false;
  char c;
  const ssize_t n = ::recv(current->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void GuardedServer::on_shut_down(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  wakers_.push_back(std::move(wake));
}

void GuardedServer::shut_down() {
  stopping_ = true;
  std::vector<std::function<void()>> wakers;
  {
    std::lock_guard lock(mutex_);
    wakers = wakers_;
  }
  for (auto& wake : wakers) wake();
  {
    std::lock_guard lock(mutex_);
    for (socket_t fd : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  // httplib's stop() does this only once listen has begun; closed here, a
  // listen that has not begun yet returns at once.
  const socket_t listener = svr_sock_.exchange(INVALID_SOCKET);
  if (listener != INVALID_SOCKET) {
    ::shutdown(listener, SHUT_RDWR);
    ::close(listener);
  }
}

bool GuardedServer::admit(socket_t sock) {
  std::lock_guard lock(mutex_);
  if (stopping_ || connections_.size() >= limits_.max_connections) return false;
  connections_.insert(sock);
  return true;
}

void GuardedServer::forget(socket_t sock) {
  std::lock_guard lock(mutex_);
  connections_.erase(sock);
}

// As httplib's own, with ConnectionStream (the deadline) for its SocketStream.
bool GuardedServer::process_and_close_socket(socket_t sock) {
  if (!admit(sock)) {
    ::close(sock);
    return false;
  }
  // A reply goes out as two writes (head, then body): without TCP_NODELAY
  // the body waits for the client's delayed ACK of the head, ~40 ms on
  // every kept-alive request after the first.
  const int on = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  ConnectionStream stream(sock, limits_.io_timeout);
  Current here{sock, &stream};
  current = &here;
  bool ok = false;
  for (auto count = keep_alive_max_count_; count > 0 && !stopping_; --count) {
    if (!stream.next_request(std::chrono::seconds(keep_alive_timeout_sec_))) break;
    stream.set_deadline(Clock::now() + limits_.request_deadline);
    bool connection_closed = false;
    ok = process_request(stream, count == 1 || stopping_, connection_closed, nullptr);
    if (!ok || connection_closed || here.close_after) break;
  }
  current = nullptr;
  forget(sock);
  if (here.close_after && !stopping_) {
    close_draining(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return ok;
}

}  // namespace postern::http
