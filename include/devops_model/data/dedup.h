// Deduplication: exact (hash of a CCNet-style normalised text) and near-duplicate MinHash-LSH over
// character n-grams (Chinese has no spaces; character 5-grams are the well-trodden choice).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "devops_model/data/recipe.h"

namespace dm::data {

// Lower-cases ASCII, maps full-width ASCII to half-width, digits to '0', drops whitespace and
// punctuation/symbols: "Docker  镜像：v1.2!" and "docker镜像 v3.4" normalise alike.
std::u32string normalize_for_dedup(std::string_view text);
uint64_t exact_dedup_hash(std::string_view text);

// MinHash signatures: for each permutation i, min over shingles of (a_i * h + b_i) mod (2^61 - 1),
// h = 64-bit hash of the shingle; (a_i, b_i) drawn from a seeded splitmix64 stream.
class MinHasher {
 public:
  explicit MinHasher(const NearDedup& cfg);
  std::vector<uint64_t> signature(std::string_view text) const;
  const NearDedup& config() const { return cfg_; }

 private:
  NearDedup cfg_;
  std::vector<uint64_t> a_, b_;
};

// Fraction of equal signature entries: an unbiased estimate of the Jaccard similarity.
double estimated_jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

// Exact Jaccard of the character n-gram sets of two texts (normalised as above); for tests/reports.
double ngram_jaccard(std::string_view a, std::string_view b, int n);

// LSH index: documents are added in order; add() returns the index of an earlier document this one
// is a near-duplicate of (same bucket in some band and estimated Jaccard >= threshold), or -1.
// Memory: num_perm * 8 bytes per document plus one bucket entry per band.
class LshIndex {
 public:
  explicit LshIndex(const NearDedup& cfg) : cfg_(cfg), buckets_(static_cast<size_t>(cfg.bands)) {}
  int64_t add(std::vector<uint64_t> sig);
  // Takes a position without indexing anything (a document removed by another stage).
  void skip() { sigs_.emplace_back(); }
  size_t size() const { return sigs_.size(); }

 private:
  NearDedup cfg_;
  std::vector<std::unordered_map<uint64_t, std::vector<int64_t>>> buckets_;
  std::vector<std::vector<uint64_t>> sigs_;
};

}  // namespace dm::data
