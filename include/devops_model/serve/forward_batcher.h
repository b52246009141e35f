// ForwardBatcher: continuous batching for the server. Every generating request calls forward() for its
// next step (a prefill or one decode token); one compute thread gathers the steps that are waiting and
// runs them as one Model::forward_batch, so the weights are streamed once per step for all requests
// instead of once per request. Knows nothing of HTTP.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "devops_model/model/model.h"

namespace dm {

class ForwardBatcher {
 public:
  explicit ForwardBatcher(const Model& model);
  ~ForwardBatcher();
  ForwardBatcher(const ForwardBatcher&) = delete;
  ForwardBatcher& operator=(const ForwardBatcher&) = delete;

  // Runs one step of one sequence; blocks until its logits are ready. Thread-safe. Errors of the step are
  // rethrown to its caller only (a failing batch is re-run item by item so errors stay attributed).
  void forward(std::span<const int32_t> ids, KVCache& cache, std::vector<float>& logits);

  // Runs other compute (an embedding forward) on the compute thread, after the steps queued before it;
  // blocks until it has run and rethrows what it threw. An OpenMP team belongs to the thread that opens
  // the region: computing on each HTTP worker would give every worker its own idle team.
  void run(const std::function<void()>& job);

  // How many requests are generating: the compute thread waits (briefly) for that many steps before it
  // runs a batch, so requests that decode together stay in one batch.
  void add_active(int delta);

  struct Stats {
    long long batches = 0, steps = 0;  // steps / batches = mean batch size
  };
  Stats stats() const;

 private:
  struct Pending {
    Model::BatchItem item;
    const std::function<void()>* job = nullptr;  // set: run this instead of a step
    bool done = false;
    std::exception_ptr error;
  };
  void submit(Pending& p);  // queues p and waits until it has run
  void loop();
  void run_batch(std::vector<Pending*>& batch);

  const Model& model_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<Pending*> queue_;
  int active_ = 0;
  bool stop_ = false;
  Stats stats_;
  std::thread worker_;  // last: starts after the members it uses
};

}  // namespace dm
