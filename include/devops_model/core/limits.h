// Sanity bounds on sizes read from model files: far above any published Qwen model, low enough that a
// corrupt value is refused before it sizes an allocation (a 2^40 vocabulary, 2^31 layers).
#pragma once
#include <cstdint>

namespace dm {

// Token ids and vocabulary rows: 4,194,304 (Qwen's is 151,936; the largest published about 262,144).
inline constexpr int64_t kMaxVocabSize = int64_t{1} << 22;

}  // namespace dm
