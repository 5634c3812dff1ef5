#include "server/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/http_error.h"
#include "server/peer_socket.h"

namespace xsam_server {

namespace {

constexpr char kProbe[] = "HTTP/1.1 ";  // what every response starts with
constexpr size_t kProbeSize = sizeof kProbe - 1;
constexpr int kWriteTimeoutMs = 5000;
constexpr int kStopCheckMs = 100;  // how often a waiting connection looks whether the server is stopping

thread_local Connection* t_current = nullptr;
thread_local bool t_rejecting = false;

int poll_one(int fd, short events, int timeout_ms, short* revents) {
  pollfd p{fd, events, 0};
  int r;
  while ((r = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  *revents = p.revents;
  return r;
}

void endpoint_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage sa{};
  socklen_t n = sizeof sa;
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &n)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &n);
  ip.clear();
  port = -1;
  if (rc == 0) endpoint_text(sa, &ip, &port);
}

// Reads whatever the client has sent without waiting, so that closing does not reset the connection
// (a close with unread data sends RST, and the client may lose the answer).
void drain(int fd) {
  char buf[4096];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

// A whole response written without cpp-httplib: for connections it never gets to see.
void send_canned(int fd, int status, const char* reason, const std::string& code, const std::string& message) {
  const std::string body = error_json(status, code, "request", message);
  std::string text = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                     "\r\nContent-Type: application/json\r\nConnection: close\r\n";
  if (status == 503) text += "Retry-After: 1\r\n";
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void close_gently(int fd, int linger_ms) {
  ::shutdown(fd, SHUT_WR);
  short revents = 0;
  // Until the client closes too (or a short while): its last bytes are read, not answered with RST.
  while (linger_ms > 0 && poll_one(fd, POLLIN, std::min(linger_ms, 50), &revents) > 0) {
    char buf[4096];
    if (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) break;
    linger_ms -= 50;
  }
  ::close(fd);
}

// Sets the calling thread's current connection for the scope.
struct CurrentConnection {
  explicit CurrentConnection(Connection* c) { t_current = c; }
  ~CurrentConnection() { t_current = nullptr; }
};

}  // namespace

Connection* current_connection() { return t_current; }

// ---------------------------------------------------------------- Connection

Connection::Connection(int fd, const ConnectionLimits& limits) : fd_(fd), limits_(limits) { start_request(); }

void Connection::start_request() {
  in_headers_ = true;
  header_end_state_ = 0;
  expired_ = false;
  deadline_ = Clock::now() + std::chrono::microseconds(int64_t(limits_.header_seconds * 1e6));
}

int Connection::remaining_ms() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
  return int(std::max<int64_t>(0, std::min<int64_t>(left, 1 << 30)));
}

void Connection::note_header_bytes(const char* p, size_t n) {
  static const char kEnd[] = "\r\n\r\n";
  for (size_t i = 0; i < n && in_headers_; ++i) {
    header_end_state_ = p[i] == kEnd[header_end_state_] ? header_end_state_ + 1 : (p[i] == '\r' ? 1 : 0);
    if (header_end_state_ == 4) {  // the body gets its own deadline
      in_headers_ = false;
      deadline_ = Clock::now() + std::chrono::microseconds(int64_t(limits_.body_seconds * 1e6));
    }
  }
}

bool Connection::is_readable() const {
  if (buffer_pos_ < buffer_.size()) return true;
  short revents = 0;
  return poll_one(fd_, POLLIN, remaining_ms(), &revents) > 0;
}

bool Connection::is_writable() const {
  // Unlike cpp-httplib's own check, a client that only half-closed (EOF on our side) is writable.
  if (gone_) return false;
  short revents = 0;
  return poll_one(fd_, POLLOUT, kWriteTimeoutMs, &revents) > 0 && !(revents & (POLLERR | POLLHUP | POLLNVAL));
}

ssize_t Connection::read(char* ptr, size_t size) {
  if (buffer_pos_ >= buffer_.size()) {
    const int ms = remaining_ms();
    short revents = 0;
    const int r = ms > 0 ? poll_one(fd_, POLLIN, ms, &revents) : 0;
    if (r == 0) {
      expired_ = true;  // the request did not arrive in time
      return -1;
    }
    if (r < 0) return -1;
    if (size >= 4096 && !in_headers_) {  // a body read: straight into the caller's buffer
      const ssize_t n = ::recv(fd_, ptr, size, 0);
      return n;
    }
    buffer_.resize(4096);
    const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    if (n <= 0) {
      buffer_.clear();
      buffer_pos_ = 0;
      return n;
    }
    buffer_.resize(size_t(n));
    buffer_pos_ = 0;
  }
  const size_t n = std::min(size, buffer_.size() - buffer_pos_);
  std::memcpy(ptr, buffer_.data() + buffer_pos_, n);
  buffer_pos_ += n;
  note_header_bytes(ptr, n);
  return ssize_t(n);
}

bool Connection::send_all(const char* p, size_t n) {
  while (n > 0) {
    short revents = 0;
    if (poll_one(fd_, POLLOUT, kWriteTimeoutMs, &revents) <= 0) return false;
    const ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

ssize_t Connection::write(const char* ptr, size_t size) {
  size_t skip = 0;
  // The response's first bytes may already have gone out as the half-close probe.
  while (probe_sent_ > 0 && skip < size && ptr[skip] == kProbe[kProbeSize - probe_sent_]) {
    ++skip;
    --probe_sent_;
  }
  probe_sent_ = 0;
  if (gone_ || !send_all(ptr + skip, size - skip)) return -1;
  wrote_ = true;
  return ssize_t(size);
}

bool Connection::peer_gone() {
  if (gone_) return true;
  short revents = 0;
  if (poll_one(fd_, POLLIN | POLLRDHUP, 0, &revents) <= 0) return false;
  if (revents & (POLLERR | POLLHUP | POLLNVAL)) return gone_ = true;
  char c;
  const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;  // the client sent more (a pipelined request): it is there
  if (n < 0) return gone_ = !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  // End of the client's data: closed, or only half-closed. Send the probe once; a closed socket answers
  // it with a reset, which the next call sees as POLLERR.
  if (!wrote_ && probe_sent_ == 0 && !sent_probe_) {
    if (!send_all(kProbe, kProbeSize)) return gone_ = true;
    probe_sent_ = kProbeSize;
    sent_probe_ = true;
  }
  return false;
}

void Connection::get_remote_ip_and_port(std::string& ip, int& port) const { endpoint_of(fd_, true, ip, port); }
void Connection::get_local_ip_and_port(std::string& ip, int& port) const { endpoint_of(fd_, false, ip, port); }

// ---------------------------------------------------------------- GuardedServer

GuardedServer::GuardedServer(const ConnectionLimits& limits) : limits_(limits) {}

bool GuardedServer::wait_for_request(Connection& conn) const {
  if (conn.has_buffered()) return true;
  for (int64_t waited = 0; waited < int64_t(keep_alive_timeout_sec_) * 1000; waited += kStopCheckMs) {
    if (svr_sock_ == INVALID_SOCKET) return false;  // stopping
    short revents = 0;
    const int r = poll_one(conn.socket(), POLLIN, kStopCheckMs, &revents);
    if (r > 0) return true;
    if (r < 0) return false;
  }
  return false;
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  if (t_rejecting) {
    drain(sock);
    send_canned(sock, 503, "Service Unavailable", "too_many_connections",
                "request: the server has too many open connections; retry later (--max-connections)");
    close_gently(sock, 100);
    return false;
  }
  Connection conn(sock, limits_);
  CurrentConnection scope(&conn);
  bool ok = true;
  for (size_t count = keep_alive_max_count_; count > 0 && ok; --count) {
    if (!wait_for_request(conn)) break;
    conn.start_request();
    bool closed = false;
    ok = process_request(conn, count == 1, closed, nullptr);
    if (!ok && conn.deadline_expired() && !conn.wrote_anything())
      send_canned(sock, 408, "Request Timeout", "timeout", "request: not received within the server's deadline");
    if (closed) break;
  }
  close_gently(sock, 0);
  return ok;
}

// ---------------------------------------------------------------- BoundedTaskQueue

BoundedTaskQueue::BoundedTaskQueue(size_t threads, size_t waiting) : max_waiting_(waiting) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) threads_.emplace_back([this] { serve(false); });
  threads_.emplace_back([this] { serve(true); });
}

BoundedTaskQueue::~BoundedTaskQueue() { shutdown(); }

void BoundedTaskQueue::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (waiting_.size() < idle_ + max_waiting_) waiting_.push_back(std::move(fn));
    else rejected_.push_back(std::move(fn));
  }
  ready_.notify_all();
}

void BoundedTaskQueue::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void BoundedTaskQueue::serve(bool rejecting) {
  t_rejecting = rejecting;
  std::deque<std::function<void()>>& queue = rejecting ? rejected_ : waiting_;
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!rejecting) ++idle_;
      ready_.wait(lock, [&] { return !queue.empty() || stopping_; });
      if (!rejecting) --idle_;
      if (queue.empty()) return;  // stopping, and nothing left
      fn = std::move(queue.front());
      queue.pop_front();
    }
    fn();
  }
}

}  // namespace xsam_server
