// Encode throughput (bytes/s, one thread) of the real Qwen vocabulary on ~4 MB of generated mixed
// Chinese / English / code text. Fixtures: $DM_FIXTURES_DIR, else ../shared/fixtures beside the sources.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "devops_model/tokenizer/tokenizer.h"

namespace {

std::string fixtures_dir() {
  if (const char* env = std::getenv("DM_FIXTURES_DIR")) return env;
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "fixtures").string();
}

// Deterministic mix: Chinese DevOps prose, English prose, shell/YAML/Python snippets, numbers.
std::string mixed_text(size_t bytes) {
  static const char* zh[] = {"持续集成是指开发人员频繁地将代码合并到主干。",
                             "监控告警需要关注延迟、流量、错误率和饱和度。", "容器编排系统负责调度、扩缩容和故障恢复，",
                             "日志采集通常使用 Fluentd 或 Filebeat。",
                             "线程安全是指在多线程环境下程序能够正确地处理并发访问。"};
  static const char* en[] = {"The pipeline runs unit tests, builds the image and deploys it. ",
                             "Rollbacks should be fast, boring and well rehearsed. ",
                             "Kubernetes reconciles the desired state with the observed state. ",
                             "Don't page humans for symptoms they can't act on; it's noise. "};
  static const char* code[] = {"def deploy(env):\n    print(f\"deploying to {env}\")\n    return 0\n",
                               "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
                               "kubectl get pods -n kube-system | grep -v Running\n",
                               "for i in {1..10}; do echo $i; sleep 0.5; done\n",
                               "    if (err != nil) {\n        return fmt.Errorf(\"open %s: %w\", path, err)\n    }\n"};
  std::mt19937_64 rng(42);
  std::string s;
  s.reserve(bytes + 256);
  while (s.size() < bytes) {
    switch (rng() % 4) {
      case 0: s += zh[rng() % 5]; break;
      case 1: s += en[rng() % 4]; break;
      case 2: s += code[rng() % 5]; break;
      default: s += std::to_string(rng() % 100000) + (rng() % 2 ? " " : "\n"); break;
    }
  }
  return s;
}

void encode_bench(benchmark::State& state, const char* file) {
  std::unique_ptr<dm::Tokenizer> tok;
  try {
    tok = dm::Tokenizer::from_file(fixtures_dir() + "/qwen-tokenizer/" + file);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const std::string text = mixed_text(4u << 20);
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok->encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["bytes_per_token"] = static_cast<double>(text.size()) / static_cast<double>(tokens);
}

void BM_TokenizerEncode_TokenizerJson(benchmark::State& s) { encode_bench(s, "tokenizer.json"); }
void BM_TokenizerEncode_Tiktoken(benchmark::State& s) { encode_bench(s, "qwen.tiktoken"); }
BENCHMARK(BM_TokenizerEncode_TokenizerJson)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_TokenizerEncode_Tiktoken)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
