#include "serve/metrics.h"

#include <charconv>
#include <cmath>

namespace dm {

using nlohmann::json;

namespace {

// Prometheus floats: Go's ParseFloat syntax; shortest round-trip form, +Inf / -Inf / NaN spelled out.
std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string escape_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void family(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels, const std::string& value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + value + "\n";
}

void scalar(std::string& out, const std::string& name, const char* type, const char* help, const std::string& v) {
  family(out, name, type, help);
  sample(out, name, "", v);
}

double field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

const char* ServerMetrics::route_label(const std::string& path) {
  for (const char* r :
       {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/health", "/metrics", "/"})
    if (path == r) return r;
  return "other";
}

std::vector<double> ServerMetrics::duration_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

std::vector<double> ServerMetrics::ttft_buckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void ServerMetrics::Histogram::observe(double v) {
  for (size_t i = 0; i < le.size(); ++i) {
    if (v <= le[i]) {
      ++counts[i];
      break;
    }
  }
  ++count;  // values above the last bound land in +Inf only
  sum += v;
}

void ServerMetrics::record(const std::string& path, int status, const json& line) {
  const std::string route = route_label(path);
  std::lock_guard<std::mutex> lk(mu_);
  ++requests_[{route, status}];
  durations_.try_emplace(route, duration_buckets()).first->second.observe(field(line, "ms") / 1000.0);
  if (line.contains("finish")) {  // a generation ran (refused / failed requests carry no finish)
    prompt_tokens_ += static_cast<uint64_t>(field(line, "prompt_tokens"));
    cached_tokens_ += static_cast<uint64_t>(field(line, "reused_tokens"));
    generated_tokens_ += static_cast<uint64_t>(field(line, "completion_tokens"));
    decode_seconds_ += field(line, "decode_ms") / 1000.0;
    if (line.contains("ttft_ms")) ttft_.observe(field(line, "ttft_ms") / 1000.0);
  }
  if (route == "/v1/embeddings" && status == 200) {
    embedding_tokens_ += static_cast<uint64_t>(field(line, "prompt_tokens"));
    embedding_inputs_ += static_cast<uint64_t>(field(line, "inputs"));
  }
}

std::string ServerMetrics::render(const Live& live) const {
  std::string out;
  const std::string p = "devops_model_";
  family(out, p + "info", "gauge", "The served model ids (value 1).");
  sample(out, p + "info",
         "model=\"" + escape_label(live.model) + "\",embedding_model=\"" + escape_label(live.embedding_model) + "\"",
         "1");
  scalar(out, p + "slots", "gauge", "Scheduler slots (requests generating at once, --parallel).",
         std::to_string(live.sched.slots));
  scalar(out, p + "slots_busy", "gauge", "Slots held by a request now.", std::to_string(live.sched.busy));
  scalar(out, p + "queue_depth", "gauge", "Requests waiting for a slot.", std::to_string(live.sched.waiting));
  scalar(out, p + "kv_cache_used_bytes", "gauge", "Bytes of the positions the slots' KV caches hold.",
         std::to_string(live.sched.kv_bytes_used));
  scalar(out, p + "kv_cache_reserved_bytes", "gauge", "Bytes allocated by the slots' KV caches.",
         std::to_string(live.sched.kv_bytes_reserved));
  family(out, p + "jobs_total", "counter", "Generation jobs by outcome (refused: queue full, 503).");
  sample(out, p + "jobs_total", "outcome=\"completed\"", std::to_string(live.sched.completed));
  sample(out, p + "jobs_total", "outcome=\"cancelled\"", std::to_string(live.sched.cancelled));
  sample(out, p + "jobs_total", "outcome=\"refused\"", std::to_string(live.sched.refused));
  scalar(out, p + "forward_batches_total", "counter", "Batched forward passes run by the compute thread.",
         std::to_string(live.batches.batches));
  scalar(out, p + "forward_batch_steps_total", "counter",
         "Sequence steps (prefills and decode tokens) in those passes; steps / batches = mean batch size.",
         std::to_string(live.batches.steps));

  std::lock_guard<std::mutex> lk(mu_);
  family(out, p + "requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, n] : requests_)
    sample(out, p + "requests_total",
           "route=\"" + escape_label(key.first) + "\",status=\"" + std::to_string(key.second) + "\"",
           std::to_string(n));
  scalar(out, p + "prompt_tokens_total", "counter", "Prompt tokens of generation requests that ran.",
         std::to_string(prompt_tokens_));
  scalar(out, p + "prompt_tokens_cached_total", "counter",
         "Prompt tokens taken from a slot's KV cache (prefix reuse) instead of computed.",
         std::to_string(cached_tokens_));
  scalar(out, p + "generation_tokens_total", "counter",
         "Tokens generated (tokens/s: rate() of this; per request: over decode_seconds_total).",
         std::to_string(generated_tokens_));
  scalar(out, p + "decode_seconds_total", "counter",
         "Seconds requests spent generating after their first text, summed over requests.", num(decode_seconds_));
  scalar(out, p + "embedding_input_tokens_total", "counter", "Tokens of embedding inputs embedded.",
         std::to_string(embedding_tokens_));
  scalar(out, p + "embedding_inputs_total", "counter", "Embedding inputs embedded.", std::to_string(embedding_inputs_));
  auto histogram = [&](const std::string& name, const std::string& labels, const Histogram& h) {
    const std::string pre = labels.empty() ? "" : labels + ",";
    uint64_t cum = 0;
    for (size_t i = 0; i < h.le.size(); ++i) {
      cum += h.counts[i];
      sample(out, name + "_bucket", pre + "le=\"" + num(h.le[i]) + "\"", std::to_string(cum));
    }
    sample(out, name + "_bucket", pre + "le=\"+Inf\"", std::to_string(h.count));
    sample(out, name + "_sum", labels, num(h.sum));
    sample(out, name + "_count", labels, std::to_string(h.count));
  };
  family(out, p + "time_to_first_token_seconds", "histogram",
         "From a generation request's arrival (queueing included) to its first text.");
  histogram(p + "time_to_first_token_seconds", "", ttft_);
  family(out, p + "request_duration_seconds", "histogram",
         "From a request's arrival to its last byte sent (streams included), by route.");
  for (const auto& [route, h] : durations_)
    histogram(p + "request_duration_seconds", "route=\"" + escape_label(route) + "\"", h);
  return out;
}

}  // namespace dm
