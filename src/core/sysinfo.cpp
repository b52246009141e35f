#include "devops_model/core/sysinfo.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "devops_model/core/threads.h"

namespace dm {

double measure_read_bandwidth(size_t buffer_bytes, int repeats) {
  const size_t n = buffer_bytes / sizeof(float);
  std::vector<float> buf(n);
  parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e) {  // first touch by the reading thread
    for (int64_t i = b; i < e; ++i) buf[static_cast<size_t>(i)] = 1.0f;
  });
  double best = 0;
  volatile float sink = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<float> partial(static_cast<size_t>(num_threads()) * 16, 0.0f);
    parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e, int worker) {
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t i = b;
      for (; i + 4 <= e; i += 4) {
        s0 += buf[static_cast<size_t>(i)];
        s1 += buf[static_cast<size_t>(i + 1)];
        s2 += buf[static_cast<size_t>(i + 2)];
        s3 += buf[static_cast<size_t>(i + 3)];
      }
      for (; i < e; ++i) s0 += buf[static_cast<size_t>(i)];
      partial[static_cast<size_t>(worker) * 16] = s0 + s1 + s2 + s3;
    });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float p : partial) sink = sink + p;
    double bw = static_cast<double>(n * sizeof(float)) / secs;
    if (bw > best) best = bw;
  }
  return best;
}

size_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;
}

size_t current_rss_bytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

size_t available_memory_bytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (f == nullptr) return 0;
  size_t total_kb = 0;
  bool found = false;
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    unsigned long long kb = 0;
    if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1 || std::sscanf(line, "SwapFree: %llu kB", &kb) == 1) {
      total_kb += kb;
      found = found || std::strncmp(line, "MemAvailable:", 13) == 0;
    }
  }
  std::fclose(f);
  return found ? total_kb * 1024 : 0;
}

}  // namespace dm
