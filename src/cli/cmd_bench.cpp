// devops-model bench: load time and RSS against the weight size, prefill and decode tokens/s, and decode
// weight bytes/s as a fraction of this machine's measured memory bandwidth.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/model_args.h"
#include "devops_model/core/sysinfo.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/model/weights.h"

namespace dm::cli {
namespace {

// The linear layers' types: "BF16", or for a mixed file (GGUF presets) each type with its count of
// matrices, most common first ("Q4_K x129, Q6_K x33").
std::string matrix_types(const ModelWeights& w) {
  std::map<std::string, int> count;
  for (const LayerWeights& l : w.layers)
    for (const TensorView* t : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) ++count[dtype_name(t->dtype)];
  ++count[dtype_name(w.lm_head.dtype)];
  if (count.size() == 1) return count.begin()->first;
  std::vector<std::pair<int, std::string>> by_count;
  for (const auto& [name, n] : count) by_count.emplace_back(-n, name);
  std::sort(by_count.begin(), by_count.end());
  std::string out;
  for (const auto& [n, name] : by_count) out += (out.empty() ? "" : ", ") + name + " x" + std::to_string(-n);
  return out;
}

using Clock = std::chrono::steady_clock;
double secs_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Bytes of weights one decode step streams: every matrix once (the embedding contributes one row).
double decode_weight_bytes(const Model& m) {
  double b = 0;
  const ModelWeights& w = m.weights();
  for (const auto& l : w.layers)
    for (const TensorView* t : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) b += static_cast<double>(t->nbytes());
  b += static_cast<double>(w.lm_head.nbytes());
  return b;
}

struct Args {
  ModelArgs model;
  int prompt_tokens = 128, decode_tokens = 32;
  bool json = false;
};

Registrar reg{{"bench", "measure load, prefill and decode speed against memory bandwidth", [](CLI::App& app) {
                 auto a = std::make_shared<Args>();
                 a->model.add(app);
                 app.add_option("--prompt-tokens", a->prompt_tokens, "prefill length")->check(CLI::PositiveNumber);
                 app.add_option("--decode-tokens", a->decode_tokens, "decode steps")->check(CLI::PositiveNumber);
                 app.add_flag("--json", a->json, "print one JSON object");
                 return
                     [a]() {
    auto t0 = Clock::now();
    auto model = a->model.load();
    double load_s = secs_since(t0);
    const ModelConfig& c = model->config();
    std::vector<int32_t> prompt(static_cast<size_t>(a->prompt_tokens));
    for (size_t i = 0; i < prompt.size(); ++i)
      prompt[i] = static_cast<int32_t>((i * 7919 + 13) % static_cast<size_t>(c.vocab_size));
    auto cache = model->new_cache(a->prompt_tokens + a->decode_tokens + 1);
    std::vector<float> logits;
    // Warm-up: the first pass pages the mapped weights in; report it apart from steady state.
    t0 = Clock::now();
    model->forward(std::span<const int32_t>(prompt.data(), 1), *cache, logits);
    double first_s = secs_since(t0);
    cache->truncate(0);
    t0 = Clock::now();
    model->forward(prompt, *cache, logits);
    double prefill_s = secs_since(t0);
    t0 = Clock::now();
    for (int i = 0; i < a->decode_tokens; ++i) {
      int32_t next[1] = {static_cast<int32_t>((i * 31 + 7) % c.vocab_size)};
      model->forward(next, *cache, logits);
    }
    double decode_s = secs_since(t0);
    const size_t rss = peak_rss_bytes();  // before the bandwidth probe's buffer
    double bw = measure_read_bandwidth();
    double wbytes = decode_weight_bytes(*model);
    double decode_tps = a->decode_tokens / decode_s;
    nlohmann::ordered_json j;
    j["model"] = a->model.dir;
    j["architecture"] = c.architecture;
    j["weights_dtype"] = matrix_types(model->weights());
    j["threads"] = num_threads();
    j["isa"] = isa_name(active_isa());
    j["bf16_activations"] = bf16_activations();
    j["weight_file_bytes"] = model->store().checkpoint() ? model->store().checkpoint()->total_bytes() : 0;
    j["load_seconds"] = load_s;
    j["first_forward_seconds"] = first_s;
    j["peak_rss_bytes"] = rss;
    j["prefill_tokens"] = a->prompt_tokens;
    j["prefill_tokens_per_s"] = a->prompt_tokens / prefill_s;
    j["decode_tokens_per_s"] = decode_tps;
    j["decode_weight_bytes_per_token"] = wbytes;
    j["decode_weight_bytes_per_s"] = wbytes * decode_tps;
    j["memory_read_bandwidth_bytes_per_s"] = bw;
    j["decode_fraction_of_bandwidth"] = wbytes * decode_tps / bw;
    if (a->json) {
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    std::printf("model            %s (%s, %s weights)\n", a->model.dir.c_str(), c.architecture.c_str(),
                j["weights_dtype"].get<std::string>().c_str());
    std::printf("threads / isa    %d / %s\n", num_threads(), isa_name(active_isa()));
    std::printf(
        "load             %.2f s (+ %.2f s first forward paging weights in), weight files "
        "%.1f MB, peak RSS %.1f MB\n",
        load_s, first_s, j["weight_file_bytes"].get<double>() / 1e6, rss / 1e6);
    std::printf("prefill          %d tokens: %.1f tok/s\n", a->prompt_tokens, a->prompt_tokens / prefill_s);
    std::printf("decode           %.2f tok/s, %.2f GB/s of weights\n", decode_tps, wbytes * decode_tps / 1e9);
    std::printf("memory bandwidth %.2f GB/s measured -> decode at %.0f%% of it\n", bw / 1e9,
                100 * wbytes * decode_tps / bw);
    return 0;
                     };
               }}};

}  // namespace
}  // namespace dm::cli
