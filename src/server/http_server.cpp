#include "server/http_server.h"

#include <httplib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "server/http_error.h"
#include "server/metrics.h"
#include "server/connection.h"
#include "server/segment_request.h"
#include "server/segment_response.h"
#include "server/static_assets.h"
#include "server/worker_pool.h"

namespace xsam_server {

using nlohmann::json;

namespace {

constexpr const char* kJson = "application/json";
constexpr auto kPoll = std::chrono::milliseconds(50);

xsam_context_params context_params(const ServerOptions& o) {
  xsam_context_params p = xsam_context_default_params();
  p.max_image_pixels = o.max_image_pixels;
  p.image_cache_entries = o.image_cache_entries;
  if (o.max_context_tokens > 0) p.max_context_tokens = o.max_context_tokens;
  return p;
}

// Endpoint label for /metrics: the API paths as they are, everything else (the page) as "static".
std::string endpoint_label(const std::string& path) {
  for (const char* p : {"/v1/segment", "/v1/info", "/healthz", "/readyz", "/metrics"})
    if (path == p) return path;
  return "static";
}

bool write_event(httplib::DataSink& sink, const std::string& event, const std::string& data) {
  const std::string text = "event: " + event + "\ndata: " + data + "\n\n";
  return sink.write(text.data(), text.size());
}

const char* reason_label(CancelReason r) { return r == CancelReason::Timeout ? "timeout" : "client_gone"; }

HttpError timeout_error(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", seconds);
  return HttpError(504, "timeout", "request",
                   std::string("request: not finished within the server's timeout of ") + buf + " s (--timeout)");
}

// Reads a file of the page from --web-root, refusing paths that climb out of it, that hold a NUL (the C
// path would end there) and anything but a regular file: a directory is not an empty page, and a FIFO
// would block the thread (and the server's shutdown) forever. Opened without blocking, then checked.
bool read_web_file(const std::string& root, const std::string& path, std::string* out) {
  if (path.find("..") != std::string::npos || path.find('\0') != std::string::npos) return false;
  const int fd = ::open((root + path).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  out->clear();
  char buf[65536];
  ssize_t n = 0;
  while (ok && (n = ::read(fd, buf, sizeof buf)) > 0) out->append(buf, size_t(n));
  ::close(fd);
  return ok && n == 0;
}

// Request paths and methods in the log with control and non-ASCII bytes as \xNN: a decoded "%0a"
// must not start a forged log line.
std::string log_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += char(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::string lower_ascii(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The Host header without its port ("[::1]:80" → "[::1]", "a.b:80" → "a.b").
std::string host_name(const std::string& host) {
  if (!host.empty() && host[0] == '[') return lower_ascii(host.substr(0, host.find(']') + 1));
  return lower_ascii(host.substr(0, host.rfind(':') == std::string::npos ? host.size() : host.rfind(':')));
}

bool host_allowed(const ServerOptions& o, const std::string& header) {
  if (header.empty()) return true;  // HTTP/1.0 without Host: not a browser, so no rebinding
  const std::string name = host_name(header);
  const bool wildcard = o.host == "0.0.0.0" || o.host == "::" || o.host == "[::]";
  if (wildcard && o.allowed_hosts.empty()) return true;
  for (const std::string& ok : {std::string("localhost"), std::string("127.0.0.1"), std::string("[::1]"),
                                lower_ascii(o.host), "[" + lower_ascii(o.host) + "]"})
    if (name == ok) return true;
  for (const auto& h : o.allowed_hosts)
    if (name == lower_ascii(h)) return true;
  return false;
}

// A Content-Length that is not a plain decimal byte count ("-1", "1e3", " 5") is a malformed request,
// not an oversized one.
bool valid_content_length(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) return true;
  const std::string v = req.get_header_value("Content-Length");
  return !v.empty() && v.size() <= 19 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

xsam_server::ConnectionLimits connection_limits(const ServerOptions& o) {
  xsam_server::ConnectionLimits l;
  l.header_seconds = o.header_seconds;
  l.body_seconds = o.body_seconds;
  l.threads = o.max_connections > 0 ? size_t(o.max_connections)
                                    : size_t(o.workers) + size_t(std::max(0, o.queue_size)) + 16;
  l.waiting = size_t(std::max(0, o.accept_queue));
  return l;
}

}  // namespace

struct HttpServer::Impl {
  Impl(xsam_model* model, const ServerOptions& o)
      : options(o),
        metrics(),
        pool(model, context_params(o), o.workers, size_t(std::max(0, o.queue_size)),
             [this](const Job& job) { metrics.count_tokens(job.n_tokens()); }),
        svr(connection_limits(o)) {
    char* text = nullptr;
    if (xsam_status s = xsam_model_info_json(model, &text))
      throw std::runtime_error(std::string("model info: ") + xsam_status_name(s) + ": " + xsam_last_error());
    json info = json::parse(text);
    xsam_free(text);
    info["server"] = {{"version", xsam_version()},
                      {"workers", o.workers},
                      {"queue_size", o.queue_size},
                      {"timeout_seconds", o.timeout_seconds},
                      {"image_cache_entries", o.image_cache_entries},
                      {"api_tasks", task_names()},
                      {"limits",
                       {{"max_body_bytes", o.max_body_bytes},
                        {"max_image_pixels", o.max_image_pixels},
                        {"max_prompt_bytes", o.max_prompt_bytes},
                        {"max_context_tokens", o.max_context_tokens},
                        {"max_refs", o.max_refs},
                        {"max_classes", o.max_classes},
                        {"max_new_tokens", o.max_new_tokens}}}};
    info_json = info.dump(-1, ' ', false, json::error_handler_t::replace);
    routes();
  }

  void routes() {
    // Enough HTTP threads for every worker, every queue slot and some keep-alive connections (a
    // browser holds up to six), so that a full queue answers 503 rather than waiting for a thread.
    const size_t threads = svr.limits().threads, waiting = svr.limits().waiting;
    svr.new_task_queue = [threads, waiting] { return new BoundedTaskQueue(threads, waiting); };
    // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, with which a second server binds
    // a port that is in use and the kernel splits the connections between the two.
    svr.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // Before any body is read: the Host check (DNS rebinding) and a malformed Content-Length.
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      auto refuse = [&](int status, const char* code, const char* header, const std::string& why) {
        res.status = status;
        res.set_content(error_json(status, code, header,
                                   std::string(header) + ": '" + log_escape(req.get_header_value(header)) + "' " + why),
                        kJson);
        return httplib::Server::HandlerResponse::Handled;
      };
      if (!host_allowed(options, req.get_header_value("Host")))
        return refuse(403, "forbidden", "Host", "is not this server's name (--allow-host NAME adds one)");
      if (!valid_content_length(req)) return refuse(400, "invalid_argument", "Content-Length", "is not a byte count");
      return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.set_payload_max_length(options.max_body_bytes);
    svr.set_default_headers({{"X-Content-Type-Options", "nosniff"}});

    svr.Post("/v1/segment", [this](const httplib::Request& req, httplib::Response& res) { segment(req, res); });
    svr.Get("/v1/info", [this](const httplib::Request&, httplib::Response& res) { res.set_content(info_json, kJson); });
    svr.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      json j = {{"status", "ok"}, {"workers", pool.workers()}, {"busy", pool.busy_workers()},
                {"queue_depth", pool.queue_depth()}};
      res.set_content(j.dump(), kJson);
    });
    // Ready: the model is loaded (it is before the server listens) and a request would be queued now,
    // not refused with 503 queue_full. A load balancer or orchestrator takes a replica out of rotation
    // while this says 503 (docs/scale-out.md).
    svr.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      const bool ready = pool.accepting();
      json j = {{"status", ready ? "ready" : "not_ready"}, {"model", "loaded"}, {"workers", pool.workers()},
                {"busy", pool.busy_workers()}, {"queue_depth", pool.queue_depth()},
                {"queue_capacity", pool.queue_capacity()}};
      if (!ready) {
        j["reason"] = "queue_full";
        res.status = 503;
        res.set_header("Retry-After", "1");
      }
      res.set_content(j.dump(), kJson);
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(pool.queue_depth(), pool.queue_capacity(), pool.busy_workers(), pool.workers()),
                      "text/plain; version=0.0.4; charset=utf-8");
    });
    svr.Get("/v1/segment", [](const httplib::Request&, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", "POST");
      res.set_content(error_json(405, "method_not_allowed", "method", "method: /v1/segment takes POST"), kJson);
    });
    svr.Get("/(.*)", [this](const httplib::Request& req, httplib::Response& res) { page(req, res); });
    // Other methods: 405 with Allow on the API's endpoints, 404 elsewhere.
    auto other_method = [](const httplib::Request& req, httplib::Response& res) {
      const std::string allow = req.path == "/v1/segment" ? "POST"
                                : endpoint_label(req.path) != "static" ? "GET" : "";
      if (allow.empty()) return not_found(req, res);
      res.status = 405;
      res.set_header("Allow", allow);
      res.set_content(error_json(405, "method_not_allowed", "method",
                                 "method: " + req.path + " takes " + allow + ", not " + req.method),
                      kJson);
    };
    svr.Put("/(.*)", other_method);
    svr.Delete("/(.*)", other_method);
    svr.Patch("/(.*)", other_method);
    svr.Post("/(v1/info|healthz|readyz|metrics)", other_method);
    error_and_logging_handlers();
  }

  void error_and_logging_handlers() {
    // Errors without a body (404 from routing, 413 from the body limit, 400 from a bad request line)
    // get the API's JSON error too.
    svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
      std::string field = "request", code = "http_error", message = "request: HTTP " + std::to_string(res.status);
      const Connection* conn = current_connection();
      if (conn && conn->deadline_expired()) {
        res.status = 408;
        code = "timeout";
        message = "request: headers and body not received within the server's deadline (--header-timeout, "
                  "--body-timeout)";
      } else if (res.status == 400) {
        code = "invalid_argument";
        message = "request: malformed HTTP request (request line, headers or body framing)";
      } else if (res.status == 414) {
        field = "path";
        code = "limit";
        message = "path: the request line is too long";
      } else if (res.status == 413) {
        field = "body";
        code = "limit";
        message = "body: larger than the server's limit (--max-body-mb)";
      } else if (res.status == 404) {
        field = "path";
        code = "not_found";
        message = "path: no such endpoint " + req.method + " " + req.path;
      }
      res.set_content(error_json(res.status, code, field, message), kJson);
      return httplib::Server::HandlerResponse::Handled;
    }));
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      res.status = 500;
      res.set_content(error_json(500, "internal", "request", "request: " + what), kJson);
    });
    svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      metrics.count_request(endpoint_label(req.path), res.status);
      std::fprintf(stderr, "%s %s %d\n", log_escape(req.method).c_str(), log_escape(req.path).c_str(), res.status);
    });
  }

  // ---- GET / and the page's files
  void page(const httplib::Request& req, httplib::Response& res) {
    std::string path = req.path == "/" ? "/index.html" : req.path;
    std::string content;
    if (!options.web_root.empty()) {
      if (!read_web_file(options.web_root, path, &content)) return not_found(req, res);
    } else {
      const StaticAsset* a = find_static_asset(path);
      if (!a) return not_found(req, res);
      content.assign(reinterpret_cast<const char*>(a->data), a->size);
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(content, mime_type(path));
  }

  static void not_found(const httplib::Request& req, httplib::Response& res) {
    res.status = 404;
    res.set_content(error_json(404, "not_found", "path", "path: no such file " + req.path), kJson);
  }

  // ---- POST /v1/segment
  SegmentInput parse(const httplib::Request& req) {
    if (req.is_multipart_form_data()) {
      std::vector<std::pair<std::string, std::string>> fields;
      RequestParts parts;
      for (const auto& [name, part] : req.files) {
        if (name == "image") {
          if (parts.has_image) throw bad_field("image", "given twice");
          parts.image_bytes = part.content;
          parts.has_image = true;
        } else if (part.filename.empty() && is_request_field(name)) {
          fields.emplace_back(name, part.content);
        } else {
          parts.files[name] = part.content;
        }
      }
      return parse_multipart_fields(fields, std::move(parts), options);
    }
    const std::string type = req.get_header_value("Content-Type");
    if (type.compare(0, 16, "application/json") == 0) return parse_json_body(req.body, options);
    throw HttpError(415, "unsupported_media_type", "Content-Type",
                    "Content-Type: '" + type + "' is neither application/json nor multipart/form-data");
  }

  void segment(const httplib::Request& req, httplib::Response& res) {
    try {
      SegmentInput in = parse(req);
      if (req.has_param("stream")) {
        const std::string v = req.get_param_value("stream");
        in.stream = v.empty() || v == "1" || v == "true";
      }
      const auto deadline = Clock::now() + std::chrono::microseconds(int64_t(options.timeout_seconds * 1e6));
      auto job = std::make_shared<Job>(std::move(in), deadline);
      if (!pool.submit(job)) {
        metrics.count_rejected("queue_full");
        const double wait = (double(pool.queue_depth()) + 1) * metrics.mean_request_seconds() / double(pool.workers());
        res.set_header("Retry-After", std::to_string(std::max(1, int(std::ceil(wait)))));
        throw HttpError(503, "queue_full", "request",
                        "request: the queue is full (" + std::to_string(pool.queue_capacity()) +
                            " waiting); retry later (--queue)");
      }
      Connection* conn = current_connection();
      if (job->input.stream) return stream(job, conn, res);
      for (;;) {
        if (job->wait(kPoll)) break;
        if (conn && conn->peer_gone()) {
          give_up(*job, CancelReason::ClientGone);
          res.status = 499;  // nginx's "client closed request": only the log sees it
          return;
        }
        if (Clock::now() > job->deadline) {
          give_up(*job, CancelReason::Timeout);
          throw timeout_error(options.timeout_seconds);
        }
      }
      res.set_content(reply(*job), kJson);
    } catch (const HttpError& e) {
      res.status = e.status;
      res.set_content(error_json(e), kJson);
    }
  }

  void give_up(Job& job, CancelReason why) {
    job.cancel(why);
    report_cancel(job);
  }

  // Counts the job's cancellation under the reason that won (the worker may have timed it out first).
  void report_cancel(Job& job) {
    if (job.claim_cancel_report()) metrics.count_cancelled(reason_label(job.cancel_reason()));
  }

  // The finished job's JSON; a job cancelled for its deadline reads as a timeout.
  std::string reply(Job& job) {
    if (job.status() == XSAM_ERR_CANCELLED && job.cancel_reason() == CancelReason::Timeout) {
      report_cancel(job);
      throw timeout_error(options.timeout_seconds);
    }
    SegmentReply r = build_reply(job);
    metrics.observe_segment(job.total_seconds(), job.queue_seconds(), r.timings, r.image_cache_hit);
    return std::move(r.body);
  }

  // ?stream=1: "token" events with each generated piece of text, then one "result" (or "error") event.
  void stream(const std::shared_ptr<Job>& job, Connection* conn, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, job, conn](size_t, httplib::DataSink& sink) {
          std::deque<std::string> pieces;
          for (;;) {
            const bool done = job->wait(kPoll, &pieces);
            for (const auto& p : pieces)
              if (!write_event(sink, "token", json{{"text", p}}.dump(-1, ' ', false, json::error_handler_t::replace))) {
                give_up(*job, CancelReason::ClientGone);
                return false;
              }
            pieces.clear();
            if (done) break;
            if (conn && conn->peer_gone()) {
              give_up(*job, CancelReason::ClientGone);
              return false;
            }
            if (Clock::now() > job->deadline) {
              give_up(*job, CancelReason::Timeout);
              write_event(sink, "error", error_json(timeout_error(options.timeout_seconds)));
              sink.done();
              return true;
            }
          }
          try {
            write_event(sink, "result", reply(*job));
          } catch (const HttpError& e) {
            write_event(sink, "error", error_json(e));
          }
          sink.done();
          return true;
        },
        [job](bool success) {
          if (!success) job->cancel(CancelReason::ClientGone);
        });
  }

  ServerOptions options;
  Metrics metrics;  // before the pool: its workers report to it until the pool is gone
  WorkerPool pool;
  std::string info_json;
  GuardedServer svr;
};

HttpServer::HttpServer(xsam_model* model, const ServerOptions& options) : impl_(new Impl(model, options)) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  if (impl_->options.port == 0) return impl_->svr.bind_to_any_port(impl_->options.host);
  return impl_->svr.bind_to_port(impl_->options.host, impl_->options.port) ? impl_->options.port : -1;
}

bool HttpServer::run() { return impl_->svr.listen_after_bind(); }

void HttpServer::stop() { impl_->svr.stop(); }

}  // namespace xsam_server
