// Non-cryptographic 64-bit hashing, stable across platforms and runs (stored in journals and dedup
// indexes, so it must never change): FNV-1a over 8-byte little-endian words with a murmur-style finaliser.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dm {

uint64_t mix64(uint64_t x);
uint64_t hash64(const void* data, size_t n, uint64_t seed = 0);
inline uint64_t hash64(std::string_view s, uint64_t seed = 0) { return hash64(s.data(), s.size(), seed); }
// 16 lowercase hex digits.
std::string hex64(uint64_t h);

}  // namespace dm
