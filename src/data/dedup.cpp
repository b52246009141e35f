#include "devops_model/data/dedup.h"

#include <algorithm>
#include <unordered_set>

#include "devops_model/core/error.h"
#include "devops_model/data/text_util.h"

namespace dm::data {
namespace {

constexpr uint64_t kMersenne61 = (uint64_t{1} << 61) - 1;

uint64_t mod_mersenne61(unsigned __int128 x) {
  uint64_t lo = static_cast<uint64_t>(x & kMersenne61);
  uint64_t hi = static_cast<uint64_t>(x >> 61);
  uint64_t r = lo + hi;  // < 2^62 + small: at most two subtractions
  while (r >= kMersenne61) r -= kMersenne61;
  return r;
}

uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<uint64_t> shingle_hashes(std::string_view text, int n) {
  std::u32string norm = normalize_for_dedup(text);
  std::vector<uint64_t> hs;
  if (norm.empty()) return hs;
  if (norm.size() < static_cast<size_t>(n)) {
    hs.push_back(hash64(norm.data(), norm.size() * sizeof(char32_t)));
    return hs;
  }
  hs.reserve(norm.size() - n + 1);
  for (size_t i = 0; i + n <= norm.size(); ++i) hs.push_back(hash64(norm.data() + i, n * sizeof(char32_t)));
  return hs;
}

}  // namespace

std::u32string normalize_for_dedup(std::string_view text) {
  std::u32string cps = decode_utf8(text);
  std::u32string out;
  out.reserve(cps.size());
  for (char32_t c : cps) {
    if (c >= 0xFF01 && c <= 0xFF5E) c -= 0xFEE0;  // full-width ASCII -> ASCII
    if (is_space(c) || is_punct_or_symbol(c)) continue;
    if (c >= 'A' && c <= 'Z') c += 32;
    if (c >= '0' && c <= '9') c = '0';
    out.push_back(c);
  }
  return out;
}

uint64_t exact_dedup_hash(std::string_view text) {
  std::u32string n = normalize_for_dedup(text);
  return hash64(n.data(), n.size() * sizeof(char32_t));
}

MinHasher::MinHasher(const NearDedup& cfg) : cfg_(cfg) {
  if (cfg.num_perm < 1 || cfg.bands < 1 || cfg.rows < 1 || cfg.bands * cfg.rows > cfg.num_perm || cfg.ngram < 1)
    fail(ErrorKind::kInvalidArgument, "near_dedup: need num_perm >= bands * rows >= 1 and ngram >= 1");
  uint64_t st = cfg.seed;
  for (int i = 0; i < cfg.num_perm; ++i) {
    a_.push_back(splitmix64(&st) % (kMersenne61 - 1) + 1);
    b_.push_back(splitmix64(&st) % kMersenne61);
  }
}

std::vector<uint64_t> MinHasher::signature(std::string_view text) const {
  std::vector<uint64_t> sig(a_.size(), kMersenne61);
  std::vector<uint64_t> hs = shingle_hashes(text, cfg_.ngram);
  std::sort(hs.begin(), hs.end());
  hs.erase(std::unique(hs.begin(), hs.end()), hs.end());
  for (uint64_t h : hs) {
    uint64_t hm = h % kMersenne61;
    for (size_t i = 0; i < a_.size(); ++i) {
      uint64_t v = mod_mersenne61(static_cast<unsigned __int128>(a_[i]) * hm + b_[i]);
      if (v < sig[i]) sig[i] = v;
    }
  }
  return sig;
}

double estimated_jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() || a.size() != b.size()) return 0.0;
  size_t eq = 0;
  for (size_t i = 0; i < a.size(); ++i) eq += a[i] == b[i];
  return static_cast<double>(eq) / static_cast<double>(a.size());
}

double ngram_jaccard(std::string_view a, std::string_view b, int n) {
  auto ha = shingle_hashes(a, n), hb = shingle_hashes(b, n);
  std::unordered_set<uint64_t> sa(ha.begin(), ha.end()), sb(hb.begin(), hb.end());
  if (sa.empty() && sb.empty()) return 1.0;
  size_t inter = 0;
  for (uint64_t h : sa) inter += sb.count(h);
  return static_cast<double>(inter) / static_cast<double>(sa.size() + sb.size() - inter);
}

int64_t LshIndex::add(std::vector<uint64_t> sig) {
  DM_CHECK(sig.size() == static_cast<size_t>(cfg_.num_perm));
  int64_t id = static_cast<int64_t>(sigs_.size());
  int64_t found = -1;
  std::vector<uint64_t> keys(cfg_.bands);
  for (int b = 0; b < cfg_.bands; ++b) {
    keys[b] = hash64(sig.data() + static_cast<size_t>(b) * cfg_.rows, cfg_.rows * sizeof(uint64_t), b);
    if (found >= 0) continue;
    auto it = buckets_[b].find(keys[b]);
    if (it == buckets_[b].end()) continue;
    for (int64_t cand : it->second) {
      if (cfg_.threshold <= 0 || estimated_jaccard(sig, sigs_[cand]) >= cfg_.threshold) {
        found = cand;
        break;
      }
    }
  }
  // Only documents that are kept (not duplicates) enter the index: clusters are keyed by their first member.
  if (found < 0) {
    for (int b = 0; b < cfg_.bands; ++b) buckets_[b][keys[b]].push_back(id);
  }
  sigs_.push_back(found < 0 ? std::move(sig) : std::vector<uint64_t>{});
  return found;
}

}  // namespace dm::data
