#include "server/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "server/http_error.h"
#include "server/metrics.h"
#include "server/peer_socket.h"
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
  for (const char* p : {"/v1/segment", "/v1/info", "/healthz", "/metrics"})
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

// Reads a file of the page from --web-root, refusing paths that climb out of it.
bool read_web_file(const std::string& root, const std::string& path, std::string* out) {
  if (path.find("..") != std::string::npos) return false;
  std::ifstream f(root + path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

struct HttpServer::Impl {
  Impl(xsam_model* model, const ServerOptions& o)
      : options(o),
        metrics(),
        pool(model, context_params(o), o.workers, size_t(std::max(0, o.queue_size)),
             [this](const Job& job) { metrics.count_tokens(job.n_tokens()); }) {
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
    const size_t threads = size_t(options.workers) + size_t(std::max(0, options.queue_size)) + 16;
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    svr.set_payload_max_length(options.max_body_bytes);
    svr.set_default_headers({{"X-Content-Type-Options", "nosniff"}});

    svr.Post("/v1/segment", [this](const httplib::Request& req, httplib::Response& res) { segment(req, res); });
    svr.Get("/v1/info", [this](const httplib::Request&, httplib::Response& res) { res.set_content(info_json, kJson); });
    svr.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      json j = {{"status", "ok"}, {"workers", pool.workers()}, {"busy", pool.busy_workers()},
                {"queue_depth", pool.queue_depth()}};
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

    // Errors without a body (404 from routing, 413 from the body limit, 400 from a bad request line)
    // get the API's JSON error too.
    svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
      std::string field = "request", code = "http_error", message = "request: HTTP " + std::to_string(res.status);
      if (res.status == 413) {
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
      std::fprintf(stderr, "%s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
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
      const int fd = find_connection_socket(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
      if (job->input.stream) return stream(job, fd, res);
      for (;;) {
        if (job->wait(kPoll)) break;
        if (peer_closed(fd)) {
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
  void stream(const std::shared_ptr<Job>& job, int fd, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, job, fd](size_t, httplib::DataSink& sink) {
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
            if (peer_closed(fd)) {
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
  httplib::Server svr;
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
