// MinHash-LSH recall/precision on generated near-duplicates, with the true Jaccard computed exactly.
#include <gtest/gtest.h>

#include <random>

#include "devops_model/core/error.h"
#include "devops_model/data/dedup.h"
#include "devops_model/data/text_util.h"

using namespace dm::data;

namespace {

std::string random_doc(std::mt19937& g, int len) {
  std::u32string s;
  for (int i = 0; i < len; ++i) s.push_back(static_cast<char32_t>(0x4E00 + g() % 3000));
  return encode_utf8(s);
}

// Replaces `edits` random characters.
std::string mutate(const std::string& doc, std::mt19937& g, int edits) {
  std::u32string s = decode_utf8(doc);
  for (int i = 0; i < edits; ++i) s[g() % s.size()] = static_cast<char32_t>(0x4E00 + g() % 3000);
  return encode_utf8(s);
}

}  // namespace

TEST(Dedup, NormalisationForExactHash) {
  EXPECT_EQ(exact_dedup_hash("Docker  镜像：v1.2!"), exact_dedup_hash("docker镜像 V3.4"));
  EXPECT_EQ(exact_dedup_hash("ＡＢＣ，测试"), exact_dedup_hash("abc测试"));
  EXPECT_NE(exact_dedup_hash("容器镜像"), exact_dedup_hash("容器网络"));
}

TEST(Dedup, MinHashEstimatesJaccard) {
  std::mt19937 g(3);
  NearDedup cfg;
  cfg.num_perm = 256;
  cfg.bands = 32;
  cfg.rows = 8;
  MinHasher h(cfg);
  std::string a = random_doc(g, 800);
  std::string b = mutate(a, g, 30);
  double j = ngram_jaccard(a, b, cfg.ngram);
  EXPECT_GT(j, 0.5);
  EXPECT_LT(j, 0.95);
  // Standard error of the estimate is sqrt(j(1-j)/256) < 0.032; allow 4 sigma.
  EXPECT_NEAR(estimated_jaccard(h.signature(a), h.signature(b)), j, 0.13);
  EXPECT_EQ(estimated_jaccard(h.signature(a), h.signature(a)), 1.0);
}

TEST(Dedup, LshRecallAndPrecisionOnGeneratedNearDuplicates) {
  std::mt19937 g(7);
  NearDedup cfg;  // defaults: 5-grams, 14 bands x 8 rows, threshold 0.7
  MinHasher h(cfg);
  LshIndex index(cfg);
  const int kBase = 150;
  std::vector<std::string> docs;
  std::vector<int> origin;  // base index of each doc
  for (int i = 0; i < kBase; ++i) docs.push_back(random_doc(g, 400 + static_cast<int>(g() % 400))), origin.push_back(i);
  // Near duplicates: 0.5 % .. 2 % of the characters edited (true Jaccard ~0.8-0.95).
  for (int i = 0; i < kBase; ++i) {
    int edits = 1 + static_cast<int>(decode_utf8(docs[i]).size() / 100);
    docs.push_back(mutate(docs[i], g, edits));
    origin.push_back(i);
  }
  int tp = 0, fp = 0, fn = 0, hi_sim_pairs = 0;
  for (size_t d = 0; d < docs.size(); ++d) {
    int64_t found = index.add(h.signature(docs[d]));
    bool is_dup = d >= static_cast<size_t>(kBase);
    if (is_dup) {
      double j = ngram_jaccard(docs[d], docs[origin[d]], cfg.ngram);
      if (j >= 0.8) ++hi_sim_pairs;
      if (found >= 0 && origin[found] == origin[d]) ++tp;
      else if (j >= 0.8) ++fn;
      if (found >= 0 && origin[found] != origin[d]) ++fp;
    } else if (found >= 0) {
      ++fp;
    }
  }
  ASSERT_GT(hi_sim_pairs, 100);
  double recall = static_cast<double>(tp) / (tp + fn);
  double precision = tp + fp ? static_cast<double>(tp) / (tp + fp) : 0.0;
  EXPECT_GE(recall, 0.95) << "tp " << tp << " fn " << fn;
  EXPECT_GE(precision, 0.99) << "fp " << fp;
}

TEST(Dedup, InvalidBandsRejected) {
  NearDedup cfg;
  cfg.bands = 20;
  cfg.rows = 10;
  cfg.num_perm = 100;
  EXPECT_THROW(MinHasher{cfg}, dm::Error);
}
