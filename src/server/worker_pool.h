// The workers: one xsam context each (a context holds the KV cache and the per-image cache and serves
// one request at a time), fed from one bounded queue. A request whose image a worker has seen recently
// goes to that worker, so that its cached encoder outputs (and image prefix in the KV cache) are reused.
#pragma once
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/job.h"
#include "xsam/xsam.h"

namespace xsam_server {

class WorkerPool {
 public:
  // Called on the worker thread after each job finished (done, failed or cancelled).
  using Finished = std::function<void(const Job&)>;

  // Creates `workers` contexts on `model`; throws std::runtime_error naming the failure.
  WorkerPool(xsam_model* model, const xsam_context_params& params, int workers, size_t queue_capacity,
             Finished on_finished = nullptr);
  ~WorkerPool();  // cancels what is queued, waits for the running requests, frees the contexts

  // Queues a job; false when the queue is full (the caller answers 503).
  bool submit(const std::shared_ptr<Job>& job);

  size_t queue_depth() const;
  size_t busy_workers() const;
  size_t workers() const { return contexts_.size(); }
  size_t queue_capacity() const { return capacity_; }
  // Whether submit() would take a job now (the rule submit() applies): what GET /readyz reports.
  bool accepting() const;

 private:
  void run(int w);
  // Index in queue_ of the job worker w should take next, or -1.
  long pick(int w) const;
  int affinity_of(uint64_t key) const;
  void remember(uint64_t key, int w);

  std::vector<xsam_context*> contexts_;
  std::vector<std::thread> threads_;
  const size_t capacity_;
  Finished on_finished_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<bool> busy_;
  std::vector<std::shared_ptr<Job>> running_;  // per worker, to cancel at shutdown
  size_t n_busy_ = 0;
  bool stopping_ = false;

  // image key → the worker that last served it (most recent first), bounded.
  std::list<std::pair<uint64_t, int>> lru_;
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, int>>::iterator> affinity_;
  size_t affinity_capacity_;
};

}  // namespace xsam_server
