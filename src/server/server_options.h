// Every knob of `xsam serve`: where it listens, how many workers, and the per-request limits.
// The defaults are what `xsam serve --help` prints; docs/http-api.md lists them too.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xsam_server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 7861;                 // 0: the OS picks a free port (printed at start)
  int workers = 1;                 // contexts, i.e. requests computed at the same time
  int queue_size = 8;              // requests waiting for a worker; one more gets 503
  double timeout_seconds = 300;    // from arrival to response, queue wait included
  int image_cache_entries = 4;     // per context: images whose encoder outputs are kept

  // Per-request limits.
  size_t max_body_bytes = size_t(32) << 20;
  int64_t max_image_pixels = int64_t(4096) * 4096;
  size_t max_prompt_bytes = 8192;       // prompt / question / answer text
  int max_context_tokens = 0;           // KV length = prompt tokens + max_new_tokens; <= 0: the model's
  size_t max_refs = 16;                 // visual refs per request
  size_t max_classes = 512;             // class names per request
  int max_new_tokens = 512;             // the largest max_new_tokens a request may ask for

  std::string web_root;  // serve the page from this directory instead of the copy built into the binary

  // Connections (src/server/connection.h).
  double header_seconds = 10;  // a request's headers must arrive within this, from its first byte
  double body_seconds = 60;    // and its body within this, from the end of the headers
  int max_connections = 0;     // served at once; <= 0: workers + queue + 16
  int accept_queue = 64;       // accepted connections waiting for a thread; more get 503
  // Host header names accepted besides the bound address, localhost, 127.0.0.1 and [::1] (DNS
  // rebinding: a page on another site must not reach a loopback server under its own name).
  // Binding to 0.0.0.0 / :: accepts any Host unless names are given.
  std::vector<std::string> allowed_hosts;
};

}  // namespace xsam_server
