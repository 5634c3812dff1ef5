// A request on its way through the worker pool: the parsed input, the cancel flag the token callback
// reads, the streamed pieces, and the outcome. Shared by the HTTP thread that waits for it and the
// worker that computes it (either may be gone first).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "server/segment_request.h"
#include "server/text_codec.h"
#include "xsam/xsam.h"

namespace xsam_server {

using Clock = std::chrono::steady_clock;

struct ResultDeleter {
  void operator()(xsam_result* r) const { xsam_result_free(r); }
};
using ResultPtr = std::unique_ptr<xsam_result, ResultDeleter>;

enum class CancelReason { None = 0, ClientGone, Timeout, Shutdown };

class Job {
 public:
  explicit Job(SegmentInput in, Clock::time_point deadline_) : input(std::move(in)), deadline(deadline_) {}

  SegmentInput input;
  const Clock::time_point arrived = Clock::now();
  const Clock::time_point deadline;

  // Asks the worker to stop at the next token (or not to start). The first reason wins.
  void cancel(CancelReason why) {
    int none = int(CancelReason::None);
    cancel_reason_.compare_exchange_strong(none, int(why));
  }
  bool cancelled() const { return cancel_reason_.load() != int(CancelReason::None); }
  CancelReason cancel_reason() const { return CancelReason(cancel_reason_.load()); }
  // The deadline belongs to the clock, not to whoever looks first: the worker cancels at the first token
  // past it even when the waiting thread's poll has not come round yet.
  bool cancel_if_past_deadline() {
    if (Clock::now() > deadline) cancel(CancelReason::Timeout);
    return cancelled();
  }
  // True exactly once per cancelled job: the waiting thread and the worker may both see the cancellation,
  // the metrics must count it once.
  bool claim_cancel_report() { return cancelled() && !cancel_reported_.exchange(true); }

  // ---- worker side
  void started(int worker) {
    std::lock_guard<std::mutex> lock(mu_);
    worker_ = worker;
    started_ = Clock::now();
  }
  // Called for every generated token: queues its text for a streaming client.
  void add_token(const char* piece) {
    std::lock_guard<std::mutex> lock(mu_);
    ++n_tokens_;
    if (!input.stream) return;
    // The library hands out whole UTF-8 characters (xsam_token_callback); a piece may be empty.
    if (!piece || !*piece) return;
    pieces_.push_back(piece);
    cv_.notify_all();
  }
  void finish(xsam_status status, std::string error, xsam_result* result) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    error_ = std::move(error);
    result_.reset(result);
    finished_ = Clock::now();
    done_ = true;
    cv_.notify_all();
  }

  // ---- waiting side
  // Waits up to `d` for the job to finish or a piece to arrive; moves the pieces out. Returns done.
  bool wait(std::chrono::milliseconds d, std::deque<std::string>* pieces = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [&] { return done_ || (pieces && !pieces_.empty()); });
    if (pieces) {
      for (auto& p : pieces_) pieces->push_back(std::move(p));
      pieces_.clear();
    }
    return done_;
  }
  // Valid once wait() returned true.
  xsam_status status() const { return status_; }
  const std::string& error() const { return error_; }
  xsam_result* result() const { return result_.get(); }
  int worker() const { return worker_; }
  int n_tokens() const { return n_tokens_; }
  double queue_seconds() const {
    return std::chrono::duration<double>((worker_ >= 0 ? started_ : finished_) - arrived).count();
  }
  double total_seconds() const { return std::chrono::duration<double>(finished_ - arrived).count(); }

 private:
  std::atomic<int> cancel_reason_{int(CancelReason::None)};
  std::atomic<bool> cancel_reported_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pieces_;
  int n_tokens_ = 0;
  int worker_ = -1;
  Clock::time_point started_{}, finished_{};
  bool done_ = false;
  xsam_status status_ = XSAM_OK;
  std::string error_;
  ResultPtr result_;
};

}  // namespace xsam_server
