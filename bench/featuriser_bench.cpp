// Featuriser throughput in paragraphs/s: hashed character n-grams, Sentence-BERT on tiny-bert, and
// Sentence-BERT on a randomly initialised BERT-base-shaped model (12 x 768, 12 heads, FFN 3072, vocab
// 21128; written once to /tmp/dm_bench_bert_base, ~440 MB of f32) at 128 and 256 tokens.
// Paragraphs: the seed document split by the pipeline's splitter. Threads: DM_BENCH_THREADS (default 2).
// Real time and process CPU time are both reported.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "data/featuriser.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "devops_model/data/paragraph.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/tokenizer/wordpiece.h"

namespace {
namespace fs = std::filesystem;

std::string source_dir() {
  std::string f = __FILE__;
  return f.substr(0, f.rfind("/bench/"));
}

void use_threads() {
  const char* env = std::getenv("DM_BENCH_THREADS");
  dm::set_num_threads(env ? std::atoi(env) : 2);
}

// 256 paragraphs: those of at least 20 bytes of the seed document (Chinese DevOps prose, code, lists),
// repeated; what the clean pipeline hands the scorer in one chunk.
const std::vector<std::string>& paragraphs() {
  static const std::vector<std::string> p = [] {
    std::vector<std::string> seed, out;
    for (auto& s : dm::data::split_paragraphs(dm::read_file(source_dir() + "/../shared/seed/000_3a16e86f37f47c6a.txt")))
      if (s.size() >= 20) seed.push_back(s);
    while (out.size() < 256) out.push_back(seed[out.size() % seed.size()]);
    return out;
  }();
  return p;
}

// Writes a BERT-base-shaped model with uniform random weights (LayerNorm 1/0), tiny-bert's vocab.txt.
std::string bert_base_dir() {
  const std::string dir = "/tmp/dm_bench_bert_base";
  if (fs::exists(dir + "/model.safetensors")) return dir;
  fs::create_directories(dir);
  const int64_t C = 768, I = 3072, V = 21128, P = 512, Lyr = 12;
  std::vector<dm::SafetensorsWriter::Spec> specs;
  auto add = [&](const std::string& n, dm::Shape s) { specs.push_back({n, dm::DType::kF32, std::move(s)}); };
  add("embeddings.word_embeddings.weight", {V, C});
  add("embeddings.position_embeddings.weight", {P, C});
  add("embeddings.token_type_embeddings.weight", {2, C});
  add("embeddings.LayerNorm.weight", {C});
  add("embeddings.LayerNorm.bias", {C});
  for (int64_t l = 0; l < Lyr; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m :
         {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"})
      add(p + m + ".weight", {C, C}), add(p + m + ".bias", {C});
    add(p + "attention.output.LayerNorm.weight", {C}), add(p + "attention.output.LayerNorm.bias", {C});
    add(p + "intermediate.dense.weight", {I, C}), add(p + "intermediate.dense.bias", {I});
    add(p + "output.dense.weight", {C, I}), add(p + "output.dense.bias", {C});
    add(p + "output.LayerNorm.weight", {C}), add(p + "output.LayerNorm.bias", {C});
  }
  dm::SafetensorsWriter w(dir + "/model.safetensors", specs);
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (const auto& s : specs) {
    std::vector<float> buf(static_cast<size_t>(dm::shape_numel(s.shape)));
    const bool ln = s.name.find("LayerNorm") != std::string::npos;
    for (auto& v : buf) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;  // xorshift64
      const float u = static_cast<float>(state >> 40) / static_cast<float>(1 << 24) - 0.5f;
      v = ln ? (s.name.back() == 't' ? 1.0f : 0.0f) : 0.07f * u;  // std ~0.02 as BERT's init
    }
    w.write_next(buf.data(), buf.size() * sizeof(float));
  }
  w.commit();
  dm::write_file_atomic(dir + "/config.json",
                        R"({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768,
  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
  "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 21128, "layer_norm_eps": 1e-12})");
  dm::write_file_atomic(dir + "/tokenizer_config.json", R"({"do_lower_case": true, "model_max_length": 512})");
  fs::copy_file(source_dir() + "/../shared/fixtures/tiny-bert/vocab.txt", dir + "/vocab.txt",
                fs::copy_options::overwrite_existing);
  return dir;
}

void run(benchmark::State& state, const dm::data::Featuriser& f, size_t n = 256) {
  use_threads();
  std::vector<std::string_view> texts(paragraphs().begin(), paragraphs().begin() + static_cast<std::ptrdiff_t>(n));
  for (auto _ : state) benchmark::DoNotOptimize(f.featurise(texts));
  state.counters["paragraphs/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * texts.size()), benchmark::Counter::kIsRate);
  state.counters["threads"] = dm::num_threads();
  double bytes = 0;
  for (auto t : texts) bytes += static_cast<double>(t.size());
  state.counters["bytes/paragraph"] = bytes / static_cast<double>(texts.size());
}

void BM_FeaturiseHashedNgrams(benchmark::State& state) { run(state, dm::data::HashedNgramFeaturiser()); }
BENCHMARK(BM_FeaturiseHashedNgrams)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

void BM_FeaturiseSbertTiny(benchmark::State& state) {
  static dm::data::SbertFeaturiser f(source_dir() + "/../shared/fixtures/tiny-bert");
  run(state, f);
}
BENCHMARK(BM_FeaturiseSbertTiny)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

void BM_FeaturiseSbertBertBase(benchmark::State& state) {
  dm::data::SbertFeaturiser f(bert_base_dir(), state.range(0), 16);
  const size_t n = 32;  // two batches: ~1 TFLOP at 256 tokens
  run(state, f, n);
  auto tok = dm::WordPieceTokenizer::load_dir(bert_base_dir());
  double tokens = 0;
  for (size_t i = 0; i < n; ++i) tokens += static_cast<double>(tok.encode(paragraphs()[i], state.range(0)).size());
  state.counters["tokens/paragraph"] = tokens / static_cast<double>(n);
}
BENCHMARK(BM_FeaturiseSbertBertBase)
    ->Arg(128)
    ->Arg(256)
    ->Iterations(1)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
