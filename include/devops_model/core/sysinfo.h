// Machine ceilings and process measurements that benchmarks report against.
#pragma once
#include <cstddef>

namespace dm {

// Read bandwidth of main memory in bytes/s: all worker threads sum a buffer much larger than the caches.
double measure_read_bandwidth(size_t buffer_bytes = size_t{1} << 30, int repeats = 3);
// Peak resident set size of this process so far, in bytes.
size_t peak_rss_bytes();
// Current resident set size, in bytes.
size_t current_rss_bytes();
// Memory a new allocation can still get without the OOM killer: MemAvailable plus free swap (Linux), in
// bytes; 0 when unknown.
size_t available_memory_bytes();

}  // namespace dm
