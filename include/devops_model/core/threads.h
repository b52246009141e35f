// Threading: one OpenMP team with static partitioning, so results are reproducible for a thread count.
#pragma once
#include <cstdint>
#include <memory>
#include <type_traits>

namespace dm {

// Sets the worker count for every parallel region (0 = all cores). OpenBLAS is kept single-threaded
// inside our regions to avoid oversubscription.
void set_num_threads(int n);
int num_threads();

// Calls fn(begin, end, worker) -- or fn(begin, end) if that is all it takes -- over [0, n) split in
// contiguous static chunks, one per worker: worker w of a team of t gets [w*c, min((w+1)*c, n)) with
// c = ceil(n / t), t = min(num_threads(), n). The split depends only on n and the team size, so
// per-chunk results (and reductions over them in worker order) are bit-identical run to run.
// `worker` is in [0, num_threads()), distinct across the chunks of one call; use it to index
// per-worker scratch. Nested calls (fn calling parallel_for) run their inner loop on the calling
// thread as one chunk with worker 0. Returns after every chunk has finished; if fn throws, the first
// exception caught is rethrown here (the other chunks still run to their end).
template <typename Fn>
void parallel_for(int64_t n, Fn&& fn);

// p[0, n) = 0 by every worker (a large gradient or buffer cleared by one thread leaves the others idle).
void clear_parallel(float* p, int64_t n);

namespace detail {
// The non-template core (threads.cpp): a plain function pointer + context, no allocation per call.
using ChunkBody = void (*)(void* ctx, int64_t begin, int64_t end, int worker);
void parallel_for_impl(int64_t n, ChunkBody body, void* ctx);
}  // namespace detail

template <typename Fn>
void parallel_for(int64_t n, Fn&& fn) {
  using F = std::remove_reference_t<Fn>;
  constexpr bool kWithWorker = std::is_invocable_v<F&, int64_t, int64_t, int>;
  static_assert(kWithWorker || std::is_invocable_v<F&, int64_t, int64_t>,
                "parallel_for body must be callable as (int64_t begin, int64_t end[, int worker])");
  detail::ChunkBody body = [](void* ctx, int64_t begin, int64_t end, int worker) {
    F& f = *static_cast<F*>(ctx);
    if constexpr (kWithWorker) {
      f(begin, end, worker);
    } else {
      (void)worker;
      f(begin, end);
    }
  };
  // const_cast: a const callable is only ever called through F& with F const-qualified.
  detail::parallel_for_impl(n, body, const_cast<void*>(static_cast<const void*>(std::addressof(fn))));
}

}  // namespace dm
