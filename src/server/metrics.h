// Counters and latency histograms for GET /metrics, in Prometheus' text exposition format (0.0.4).
// Thread-safe; every name starts with xsam_.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace xsam_server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Lines for `name` with extra labels (e.g. stage="vision"; empty for none).
  void write(std::string& out, const std::string& name, const std::string& labels) const;
  double mean() const { return n_ ? sum_ / double(n_) : 0.0; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last is +Inf
  double sum_ = 0;
  uint64_t n_ = 0;
};

class Metrics {
 public:
  // One HTTP response: endpoint path and status code.
  void count_request(const std::string& endpoint, int status);
  // One answered /v1/segment request: end-to-end and queue seconds, the result's stage timings
  // (name → seconds, -1 = not run), whether the image came from the cache.
  void observe_segment(double total_s, double queue_s, const std::map<std::string, double>& stages, bool cache_hit);
  // Tokens a worker generated for one request, whatever became of it (cancelled ones included).
  void count_tokens(int tokens);
  void count_rejected(const std::string& reason);   // queue_full
  void count_cancelled(const std::string& reason);  // client_gone, timeout

  // Mean seconds of the finished segment requests so far (0 before the first): the Retry-After estimate.
  double mean_request_seconds() const;

  // The exposition text; the gauges are read by the caller when the page is asked for.
  std::string render(size_t queue_depth, size_t queue_capacity, size_t busy, size_t workers) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> rejected_, cancelled_;
  std::map<std::string, Histogram> stages_;
  Histogram request_seconds_ = Histogram(default_bounds());
  Histogram queue_seconds_ = Histogram(default_bounds());
  uint64_t cache_hits_ = 0, cache_misses_ = 0, tokens_ = 0;

  static std::vector<double> default_bounds();
};

// Peak resident set size of this process in bytes (VmHWM), 0 when unknown.
uint64_t peak_rss_bytes();

}  // namespace xsam_server
