// Rule-stage throughput: judge_document (document rules, paragraph split, paragraph rules, dedup
// hash) on the seed document with the shipped zh_tech recipe; MB/s per thread.
#include <benchmark/benchmark.h>

#include <string>

#include "data/clean.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/data/dedup.h"

namespace {

// The source tree, from this file's path (CMake passes absolute paths), so the bench needs no flags.
std::string source_dir() {
  std::string f = __FILE__;
  return f.substr(0, f.rfind("/bench/"));
}

const std::string& seed_text() {
  static const std::string s = dm::read_file(source_dir() + "/../shared/seed/000_3a16e86f37f47c6a.txt");
  return s;
}

void BM_JudgeDocument(benchmark::State& state) {
  static const dm::data::Recipe recipe = dm::data::load_recipe(source_dir() + "/recipes/zh_tech.json");
  const std::string& text = seed_text();
  for (auto _ : state) benchmark::DoNotOptimize(dm::data::judge_document(text, recipe, nullptr));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_JudgeDocument)->Threads(1)->Threads(2)->UseRealTime();

void BM_MinHashSignature(benchmark::State& state) {
  dm::data::MinHasher h(dm::data::NearDedup{});
  const std::string& text = seed_text();
  for (auto _ : state) benchmark::DoNotOptimize(h.signature(text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_MinHashSignature);

}  // namespace
