// `xsam serve`: the HTTP API (POST /v1/segment, GET /v1/info, /healthz, /readyz, /metrics) and the demo page,
// on Debian's cpp-httplib and the public C API. docs/http-api.md describes the endpoints.
#pragma once
#include <memory>

#include "server/server_options.h"
#include "xsam/xsam.h"

namespace xsam_server {

class HttpServer {
 public:
  // Creates the worker contexts on `model` (which must outlive the server); throws std::runtime_error.
  HttpServer(xsam_model* model, const ServerOptions& options);
  ~HttpServer();  // stops, cancels what is queued or running, frees the contexts

  // Binds to options.host:options.port (port 0: a free one). Returns the port, or -1 with errno set.
  int bind();
  // Serves until stop() is called (from any thread). False when the server could not run.
  bool run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xsam_server
