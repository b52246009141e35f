#include "devops_model/core/threads.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

namespace dm {

namespace {
int g_threads = 0;
}

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  g_threads = n;
  omp_set_num_threads(n);
}

int num_threads() {
  if (g_threads == 0) set_num_threads(0);
  return g_threads;
}

namespace detail {

void parallel_for_impl(int64_t n, ChunkBody body, void* ctx) {
  if (n <= 0) return;
  int nt = num_threads();
  // One worker, one item, or already inside an active region (nested regions would get a team of one
  // anyway): the calling thread runs the whole range as worker 0, and exceptions propagate directly.
  if (nt <= 1 || n == 1 || omp_get_active_level() > 0) {
    body(ctx, 0, n, 0);
    return;
  }
  if (nt > n) nt = static_cast<int>(n);
  // An exception must not leave an OpenMP region (std::terminate): each chunk catches, the first one
  // caught is kept and rethrown once the team has joined.
  std::atomic<bool> failed{false};
  std::exception_ptr error;
#pragma omp parallel num_threads(nt)
  {
    int id = omp_get_thread_num();
    int team = omp_get_num_threads();  // may be < nt (OMP_THREAD_LIMIT, dynamic adjustment)
    int64_t chunk = (n + team - 1) / team;
    int64_t b = id * chunk;
    int64_t e = b + chunk < n ? b + chunk : n;
    if (b < e) {
      try {
        body(ctx, b, e, id);
      } catch (...) {
        if (!failed.exchange(true, std::memory_order_acq_rel)) error = std::current_exception();
      }
    }
  }
  // The region's implicit barrier orders the write of `error` before this read.
  if (error) std::rethrow_exception(error);
}

}  // namespace detail

void clear_parallel(float* p, int64_t n) {
  parallel_for(n, [p](int64_t a, int64_t b) { std::fill(p + a, p + b, 0.f); });
}

}  // namespace dm
