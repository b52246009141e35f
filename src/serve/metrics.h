// GET /metrics: the server's counters in Prometheus' text exposition format (version 0.0.4), as
// llama.cpp's server and vLLM expose theirs. Every name starts with devops_model_; counters end in _total.
// Fed from each request's access-log line (route, status, ms, prompt/completion/reused tokens, finish,
// ttft_ms, decode_ms, inputs), so the transport needs one hook; gauges (slots, queue, KV-cache bytes)
// are read from the scheduler when scraped. Thread-safe.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "devops_model/serve/forward_batcher.h"
#include "devops_model/serve/scheduler.h"

namespace dm {

class ServerMetrics {
 public:
  // One answered request: its path (routes the server has keep their name, anything else is "other",
  // so a scanner cannot grow the label set), HTTP status and access-log fields.
  void record(const std::string& path, int status, const nlohmann::json& log_line);

  struct Live {
    SchedulerStats sched;
    ForwardBatcher::Stats batches;
    std::string model, embedding_model;
  };
  // The exposition text: # HELP and # TYPE before each family, one sample per line, ending in a newline.
  std::string render(const Live& live) const;

  static const char* route_label(const std::string& path);

 private:
  struct Histogram {
    explicit Histogram(std::vector<double> bounds) : le(std::move(bounds)), counts(le.size(), 0) {}
    void observe(double v);
    std::vector<double> le;
    std::vector<uint64_t> counts;  // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  static std::vector<double> duration_buckets();
  static std::vector<double> ttft_buckets();

  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (route, status) -> count
  std::map<std::string, Histogram> durations_;                // route -> request duration
  Histogram ttft_{ttft_buckets()};
  uint64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0;
  uint64_t embedding_tokens_ = 0, embedding_inputs_ = 0;
  double decode_seconds_ = 0;
};

}  // namespace dm
