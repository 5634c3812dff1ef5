// The server's own handling of connections, under cpp-httplib's request parsing and routing:
//  - each request must arrive whole within a deadline (headers, then body: a total, not per byte), so a
//    client that trickles bytes (slowloris) loses its connection instead of holding a thread;
//  - connections are served by a fixed set of threads with a bounded wait list; beyond it a connection
//    gets 503 at once instead of waiting behind the others;
//  - a handler can ask whether its client is still there. A half-closed client (shutdown(SHUT_WR),
//    `nc -N`) and a client that closed its socket look the same until something is sent: the first
//    bytes of every response ("HTTP/1.1 ") are sent early as a probe; a closed socket answers with a
//    reset, a half-closed one reads them and still gets its whole answer.
// Debian's cpp-httplib 0.11 gives a handler no access to its connection; the connection the calling
// thread serves is found with current_connection().
#pragma once
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace xsam_server {

struct ConnectionLimits {
  double header_seconds = 10;  // from a request's first byte to the end of its headers
  double body_seconds = 60;    // from the end of the headers to the end of the body
  size_t threads = 25;         // connections served at once
  size_t waiting = 64;         // accepted connections waiting for a thread; more get 503
};

// One accepted connection, as a cpp-httplib stream with deadlines.
class Connection : public httplib::Stream {
 public:
  Connection(int fd, const ConnectionLimits& limits);

  // Called before each request: the header deadline starts with its first byte.
  void start_request();
  bool deadline_expired() const { return expired_; }
  bool wrote_anything() const { return wrote_; }
  bool has_buffered() const { return buffer_pos_ < buffer_.size(); }

  // True when the client has gone (closed its socket, reset, or the connection failed); never blocks.
  // A half-closed client is still there.
  bool peer_gone();

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return fd_; }

 private:
  using Clock = std::chrono::steady_clock;
  int remaining_ms() const;
  void note_header_bytes(const char* p, size_t n);
  bool send_all(const char* p, size_t n);

  int fd_;
  ConnectionLimits limits_;
  Clock::time_point deadline_;
  bool in_headers_ = true;
  int header_end_state_ = 0;  // how much of "\r\n\r\n" was just seen
  bool expired_ = false;
  bool wrote_ = false;
  size_t probe_sent_ = 0;     // bytes of "HTTP/1.1 " sent as the half-close probe, not yet written over
  bool sent_probe_ = false;
  bool gone_ = false;
  std::vector<char> buffer_;  // cpp-httplib reads the request line and headers a byte at a time
  size_t buffer_pos_ = 0;
};

// The connection the calling thread is serving, or nullptr outside a request.
Connection* current_connection();

// cpp-httplib's server with Connection streams and the limits above.
class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(const ConnectionLimits& limits);
  const ConnectionLimits& limits() const { return limits_; }

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Waits (keep-alive) for the next request's first byte; false on timeout, EOF or a stopping server.
  bool wait_for_request(Connection& conn) const;

  ConnectionLimits limits_;
};

// A fixed set of threads with a bounded wait list. A connection that finds the list full is handed to
// one extra thread that answers 503 and closes it without reading.
class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(size_t threads, size_t waiting);
  ~BoundedTaskQueue() override;
  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  void serve(bool rejecting);

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> waiting_, rejected_;
  size_t max_waiting_;
  size_t idle_ = 0;  // serving threads waiting for a connection
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace xsam_server
