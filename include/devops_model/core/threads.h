// Threading: one OpenMP team with static partitioning, so results are reproducible for a thread count.
#pragma once
#include <cstdint>

namespace dm {

// Sets the worker count for every parallel region (0 = all cores). OpenBLAS is kept single-threaded
// inside our regions to avoid oversubscription.
void set_num_threads(int n);
int num_threads();

// Calls fn(begin, end) over [0, n) split in contiguous static chunks, one per worker.
template <typename Fn>
void parallel_for(int64_t n, Fn&& fn);

}  // namespace dm

#include <omp.h>

namespace dm {
template <typename Fn>
void parallel_for(int64_t n, Fn&& fn) {
  if (n <= 0) return;
  int nt = num_threads();
  if (nt <= 1 || n == 1) {
    fn(int64_t{0}, n);
    return;
  }
  if (nt > n) nt = static_cast<int>(n);
#pragma omp parallel num_threads(nt)
  {
    int id = omp_get_thread_num();
    int team = omp_get_num_threads();
    int64_t chunk = (n + team - 1) / team;
    int64_t b = id * chunk;
    int64_t e = b + chunk < n ? b + chunk : n;
    if (b < e) fn(b, e);
  }
}
}  // namespace dm
