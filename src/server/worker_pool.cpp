#include "server/worker_pool.h"

#include <algorithm>
#include <stdexcept>

namespace xsam_server {

namespace {

// The token callback: counts (and, when streaming, queues) the piece; returning false cancels the request.
bool on_token(const char* piece, int32_t, void* user) {
  Job* job = static_cast<Job*>(user);
  if (job->cancel_if_past_deadline()) return false;
  job->add_token(piece);
  return true;
}

}  // namespace

WorkerPool::WorkerPool(xsam_model* model, const xsam_context_params& params, int workers, size_t queue_capacity,
                       Finished on_finished)
    : capacity_(queue_capacity), on_finished_(std::move(on_finished)) {
  if (workers < 1) throw std::runtime_error("--workers must be >= 1");
  for (int w = 0; w < workers; ++w) {
    xsam_context* ctx = nullptr;
    if (xsam_status s = xsam_context_new(model, &params, &ctx)) {
      std::string why = std::string(xsam_status_name(s)) + ": " + xsam_last_error();
      for (auto* c : contexts_) xsam_context_free(c);
      throw std::runtime_error("context " + std::to_string(w) + ": " + why);
    }
    contexts_.push_back(ctx);
  }
  busy_.assign(contexts_.size(), false);
  running_.resize(contexts_.size());
  affinity_capacity_ = 64 * contexts_.size() + size_t(std::max(0, params.image_cache_entries)) * contexts_.size();
  for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { run(w); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& job : queue_) {
      job->cancel(CancelReason::Shutdown);
      job->finish(XSAM_ERR_CANCELLED, "the server is shutting down", nullptr);
    }
    queue_.clear();
    for (auto& job : running_)
      if (job) job->cancel(CancelReason::Shutdown);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  for (auto* c : contexts_) xsam_context_free(c);
}

bool WorkerPool::submit(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Idle workers take queued jobs at once; beyond them, at most capacity_ jobs wait.
    const size_t idle = contexts_.size() - n_busy_;
    if (stopping_ || queue_.size() >= capacity_ + idle) return false;
    queue_.push_back(job);
  }
  cv_.notify_all();
  return true;
}

bool WorkerPool::accepting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !stopping_ && queue_.size() < capacity_ + (contexts_.size() - n_busy_);
}

size_t WorkerPool::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t WorkerPool::busy_workers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return n_busy_;
}

int WorkerPool::affinity_of(uint64_t key) const {
  auto it = affinity_.find(key);
  return it == affinity_.end() ? -1 : it->second->second;
}

void WorkerPool::remember(uint64_t key, int w) {
  auto it = affinity_.find(key);
  if (it != affinity_.end()) lru_.erase(it->second);
  lru_.emplace_front(key, w);
  affinity_[key] = lru_.begin();
  if (lru_.size() > affinity_capacity_) {
    affinity_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

long WorkerPool::pick(int w) const {
  // First the oldest job whose image this worker has cached; then the oldest job nobody else is
  // better placed for (no affinity, or its worker is busy). A job whose worker is idle is left to it:
  // that worker is woken by the same notification and takes it.
  for (size_t i = 0; i < queue_.size(); ++i)
    if (affinity_of(queue_[i]->input.image_key) == w) return long(i);
  for (size_t i = 0; i < queue_.size(); ++i) {
    int a = affinity_of(queue_[i]->input.image_key);
    if (a < 0 || busy_[size_t(a)]) return long(i);
  }
  return -1;
}

void WorkerPool::run(int w) {
  xsam_context* ctx = contexts_[size_t(w)];
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      long i = -1;
      cv_.wait(lock, [&] { return stopping_ || (i = pick(w)) >= 0; });
      if (stopping_) return;
      job = queue_[size_t(i)];
      queue_.erase(queue_.begin() + i);
      busy_[size_t(w)] = true;
      running_[size_t(w)] = job;
      ++n_busy_;
      remember(job->input.image_key, w);
    }
    job->started(w);
    if (job->cancel_if_past_deadline()) {
      job->finish(XSAM_ERR_CANCELLED, "cancelled before it started", nullptr);
    } else {
      const SegmentInput& in = job->input;
      xsam_segment_params p = in.params;
      p.on_token = on_token;
      p.user_data = job.get();
      xsam_result* result = nullptr;
      xsam_status s = xsam_segment(ctx, &in.image, in.prompt_c(), in.c_refs.empty() ? nullptr : in.c_refs.data(),
                                   in.c_refs.size(), &p, &result);
      job->finish(s, s == XSAM_OK ? std::string() : std::string(xsam_last_error()), result);
    }
    if (on_finished_) on_finished_(*job);
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_[size_t(w)] = false;
      running_[size_t(w)].reset();
      --n_busy_;
    }
    cv_.notify_all();  // a job left for this worker's affinity may now go to anyone
  }
}

}  // namespace xsam_server
