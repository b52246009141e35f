#include "devops_model/serve/forward_batcher.h"

#include <algorithm>
#include <chrono>

namespace dm {

ForwardBatcher::ForwardBatcher(const Model& model) : model_(model), worker_([this] { loop(); }) {}

ForwardBatcher::~ForwardBatcher() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  worker_.join();
}

void ForwardBatcher::add_active(int delta) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    active_ += delta;
  }
  work_cv_.notify_all();
}

ForwardBatcher::Stats ForwardBatcher::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void ForwardBatcher::forward(std::span<const int32_t> ids, KVCache& cache, std::vector<float>& logits) {
  Pending p;
  p.item = Model::BatchItem{ids, &cache, &logits, false};
  submit(p);
}

void ForwardBatcher::run(const std::function<void()>& job) {
  Pending p;
  p.job = &job;
  submit(p);
}

void ForwardBatcher::submit(Pending& p) {
  std::unique_lock<std::mutex> lk(mu_);
  queue_.push_back(&p);
  work_cv_.notify_all();
  done_cv_.wait(lk, [&] { return p.done; });
  if (p.error) std::rethrow_exception(p.error);
}

void ForwardBatcher::loop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    work_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    // Give the other generating requests a moment to submit their step too (they are decoding the
    // token of the previous batch). 2 ms is small next to one forward of a real model.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
    while (static_cast<int>(queue_.size()) < active_ && !stop_) {
      if (work_cv_.wait_until(lk, deadline) == std::cv_status::timeout) break;
    }
    std::vector<Pending*> batch;
    batch.swap(queue_);
    const auto steps = std::count_if(batch.begin(), batch.end(), [](const Pending* p) { return !p->job; });
    if (steps > 0) ++stats_.batches, stats_.steps += steps;  // jobs are not steps
    lk.unlock();
    run_batch(batch);
    lk.lock();
    for (Pending* p : batch) p->done = true;
    done_cv_.notify_all();
  }
}

void ForwardBatcher::run_batch(std::vector<Pending*>& batch) {
  std::vector<Model::BatchItem> items;
  std::vector<Pending*> steps;
  for (Pending* p : batch) {
    if (!p->job) {
      items.push_back(p->item);
      steps.push_back(p);
      continue;
    }
    try {
      (*p->job)();
    } catch (...) {
      p->error = std::current_exception();
    }
  }
  if (items.empty()) return;
  try {
    model_.forward_batch(items);
    return;
  } catch (...) {
    // forward_batch changes no cache before it has computed everything: re-run one by one so that each
    // error reaches only the request that caused it.
  }
  for (Pending* p : steps) {
    try {
      model_.forward(p->item.ids, *p->item.cache, *p->item.logits);
    } catch (...) {
      p->error = std::current_exception();
    }
  }
}

}  // namespace dm
