// One long-lived thread that runs submitted jobs one at a time, the caller waiting for each. An OpenMP
// team belongs to the thread that opens the parallel region, so compute started from many short-lived
// callers (HTTP workers) would give each its own idle team; routing it through one thread keeps one.
#pragma once
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace dm {

class SerialExecutor {
 public:
  SerialExecutor();
  ~SerialExecutor();  // finishes queued jobs, then joins
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Runs fn on the executor's thread after the jobs before it; returns when it has run, rethrowing what
  // it threw.
  void run(const std::function<void()>& fn);

 private:
  struct Job {
    const std::function<void()>* fn;
    std::exception_ptr error;
    bool done = false;
  };
  void loop();
  std::mutex mu_;
  std::condition_variable wake_, finished_;
  std::deque<Job*> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dm
