// Internal to kernels/: software prefetch of the weight rows a prefill kernel reads next, into L1 while the
// current rows serve every token. The hardware prefetchers do not run ahead into the next row group (each row
// is read in short runs), so a group's first tile otherwise waits on DRAM: measured on 2 Zen 5 cores at 128
// tokens, the packed GEMM's pack spent a third of the down projection's time there (Qwen2.5-0.5B f32), and
// prefill gained 4-11 % across f32/bf16/f16/Q8_0/Q4_0 once the dot-product, packed and int8 tiles did this.
// Internal linkage, as block_decode.h: every including ISA file gets its own copy.
#pragma once
#include <xmmintrin.h>

#include <cstdint>

namespace dm::kernels {
namespace {

// Bytes [0, bytes) of `rows` rows at row_stride from `first`.
inline void prefetch_rows(const char* first, int64_t row_stride, int64_t rows, int64_t bytes) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(first + i * row_stride + b, _MM_HINT_T0);
}

// Slice `slice` of `slices` of the cache lines of [p, p + bytes): spread over a pass's tiles.
inline void prefetch_slice(const char* p, int64_t bytes, int64_t slice, int64_t slices) {
  const int64_t lines = (bytes + 63) / 64;
  for (int64_t l = slice * lines / slices; l < (slice + 1) * lines / slices; ++l) _mm_prefetch(p + l * 64, _MM_HINT_T0);
}

}  // namespace
}  // namespace dm::kernels
