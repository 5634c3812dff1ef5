// xsam serve --model DIR [--host 127.0.0.1] [--port 7861] [--threads N] [--workers N] ...: serves the
// model over HTTP (docs/http-api.md) with the demo page at /. Stops on SIGINT / SIGTERM after the
// requests in flight are answered; a second signal exits at once.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "cli/cli_common.h"
#include "server/http_server.h"

using namespace xsam_cli;

namespace {

const char* kUsage =
    "usage: xsam serve --model DIR [options]\n\n"
    "  --model DIR             exported model directory (required)\n"
    "  --host ADDR             address to bind (default 127.0.0.1; 0.0.0.0 exposes the server to the network)\n"
    "  --port N                port (default 7861; 0 picks a free one, printed at start)\n"
    "  --threads N             intra-op threads (default: physical cores)\n"
    "  --workers N             requests computed at the same time, one context each (default 1)\n"
    "  --queue N               requests that may wait for a worker; more get 503 (default 8)\n"
    "  --timeout S             seconds from arrival to answer, queue included (default 300)\n"
    "  --dtype auto|mixed|fp32|bf16  runtime dtype (default auto: bf16 on avx512bf16, else mixed)\n"
    "  --image-cache N         images per worker whose encoder outputs are kept (default 4)\n"
    "  --max-body-mb N         request body limit (default 32)\n"
    "  --max-image-pixels N    decoded image limit (default 16777216)\n"
    "  --max-prompt-bytes N    prompt / question / class text limit (default 8192)\n"
    "  --max-context-tokens N  KV length: prompt tokens + max_new_tokens (default: the model's)\n"
    "  --max-refs N            visual refs per request (default 16)\n"
    "  --max-classes N         class names per request (default 512)\n"
    "  --max-new-tokens N      the most tokens a request may generate, and the default (default 512)\n"
    "  --web-root DIR          serve the page from DIR instead of the copy built in (page development)\n"
    "  --header-timeout S      a request's headers must arrive within S seconds of its first byte (default 10)\n"
    "  --body-timeout S        and its body within S seconds after the headers (default 60)\n"
    "  --max-connections N     connections served at once (default: workers + queue + 16)\n"
    "  --accept-queue N        connections waiting for one of those; more get 503 at once (default 64)\n"
    "  --allow-host NAME       accept this Host header too (repeatable); by default a loopback server accepts\n"
    "                          only localhost, 127.0.0.1, [::1] and --host, a 0.0.0.0 server any name\n";

int g_signal_pipe[2] = {-1, -1};

void on_stop_signal(int sig) {
  unsigned char b = static_cast<unsigned char>(sig);
  ssize_t ignored = write(g_signal_pipe[1], &b, 1);
  (void)ignored;
}

bool number_option(Args& a, const char* name, long long lo, long long hi, long long* out) {
  std::string v;
  if (!a.option(name, &v)) return true;
  if (!parse_int(v, out) || *out < lo || *out > hi) {
    std::fprintf(stderr, "xsam serve: %s must be an integer in [%lld, %lld], got '%s'\n", name, lo, hi, v.c_str());
    return false;
  }
  return true;
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  Args a(argc, argv, 2);
  if (a.flag("--help") || a.flag("-h")) {
    std::printf("%s", kUsage);
    return 0;
  }
  xsam_server::ServerOptions o;
  std::string model_dir, dtype = "auto", v;
  a.option("--model", &model_dir);
  a.option("--host", &o.host);
  a.option("--web-root", &o.web_root);
  a.option("--dtype", &dtype);
  long long port = o.port, threads = 0, workers = o.workers, queue = o.queue_size, cache = o.image_cache_entries;
  long long body_mb = 32, pixels = o.max_image_pixels, prompt = (long long)o.max_prompt_bytes,
            ctx_tokens = o.max_context_tokens, refs = (long long)o.max_refs, classes = (long long)o.max_classes,
            new_tokens = o.max_new_tokens;
  bool ok = number_option(a, "--port", 0, 65535, &port) && number_option(a, "--threads", 0, 1024, &threads) &&
            number_option(a, "--workers", 1, 256, &workers) && number_option(a, "--queue", 0, 100000, &queue) &&
            number_option(a, "--image-cache", 0, 4096, &cache) && number_option(a, "--max-body-mb", 1, 4096, &body_mb) &&
            number_option(a, "--max-image-pixels", 1, 1ll << 34, &pixels) &&
            number_option(a, "--max-prompt-bytes", 1, 1 << 24, &prompt) &&
            number_option(a, "--max-context-tokens", 0, 1 << 24, &ctx_tokens) &&
            number_option(a, "--max-refs", 0, 64, &refs) && number_option(a, "--max-classes", 0, 4096, &classes) &&
            number_option(a, "--max-new-tokens", 1, 1 << 20, &new_tokens);
  if (!ok) return 2;
  o.allowed_hosts = a.all("--allow-host");
  long long max_connections = 0, accept_queue = o.accept_queue;
  if (!number_option(a, "--max-connections", 0, 4096, &max_connections) ||
      !number_option(a, "--accept-queue", 0, 100000, &accept_queue))
    return 2;
  o.max_connections = int(max_connections);
  o.accept_queue = int(accept_queue);
  for (auto [name, target] : {std::pair<const char*, double*>{"--header-timeout", &o.header_seconds},
                              {"--body-timeout", &o.body_seconds}})
    if (a.option(name, &v)) {
      char* end = nullptr;
      *target = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(*target > 0) || *target > 86400) {
        std::fprintf(stderr, "xsam serve: %s must be a number of seconds in (0, 86400], got '%s'\n", name, v.c_str());
        return 2;
      }
    }
  if (a.option("--timeout", &v)) {
    char* end = nullptr;
    o.timeout_seconds = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(o.timeout_seconds > 0)) {
      std::fprintf(stderr, "xsam serve: --timeout must be a positive number of seconds, got '%s'\n", v.c_str());
      return 2;
    }
  }
  if (!a.positionals().empty() || model_dir.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  o.port = int(port);
  o.workers = int(workers);
  o.queue_size = int(queue);
  o.image_cache_entries = int(cache);
  o.max_body_bytes = size_t(body_mb) << 20;
  o.max_image_pixels = pixels;
  o.max_prompt_bytes = size_t(prompt);
  o.max_context_tokens = int(ctx_tokens);
  o.max_refs = size_t(refs);
  o.max_classes = size_t(classes);
  o.max_new_tokens = int(new_tokens);

  xsam_model_params mp = xsam_model_default_params();
  mp.n_threads = int(threads);
  if (std::string e = dtype_option(dtype, &mp.dtype); !e.empty()) {
    std::fprintf(stderr, "xsam serve: %s\n", e.c_str());
    return 2;
  }

  // SIGINT / SIGTERM: the handler (any thread may run it) writes the signal number to a pipe; a
  // stopper thread reads it and stops the server (nothing else is safe inside a signal handler).
  if (pipe(g_signal_pipe) != 0) {
    std::perror("xsam serve: pipe");
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  xsam_model* model = nullptr;
  if (xsam_status s = xsam_model_load(model_dir.c_str(), &mp, &model)) return report("serve", s);
  int rc = 0;
  try {
    xsam_server::HttpServer server(model, o);
    const int bound = server.bind();
    if (bound < 0) {
      std::fprintf(stderr, "xsam serve: cannot listen on %s:%lld: %s\n", o.host.c_str(), port, std::strerror(errno));
      rc = 1;
    } else {
      std::printf("xsam serve: listening on http://%s:%d/ (model %s, %d worker%s, queue %d)\n", o.host.c_str(), bound,
                  model_dir.c_str(), o.workers, o.workers == 1 ? "" : "s", o.queue_size);
      std::fflush(stdout);
      std::thread stopper([&server] {
        unsigned char sig = 0;
        while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
        }
        std::fprintf(stderr, "xsam serve: stopping (signal %d); a second signal exits at once\n", int(sig));
        server.stop();
        while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
        }
        _exit(130);
      });
      stopper.detach();
      if (!server.run()) rc = 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xsam serve: %s\n", e.what());
    rc = 1;
  }
  xsam_model_free(model);
  return rc;
}
