// GET /metrics: scraped after known requests, the counters moved by exactly what those requests did,
// and the text follows Prometheus' text exposition format (checked by the small parser below, which
// applies the format's rules: # HELP / # TYPE once per family and before its samples, a family's samples
// together, metric and label names, quoted and escaped label values, float values, no duplicate series,
// counters ending in _total, histograms with cumulative le buckets ending at +Inf = _count, plus _sum).
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "devops_model/serve/server.h"
#include "serve/metrics.h"
#include "serve/openai_api.h"
#include "test_util.h"

namespace dm {
namespace {

using nlohmann::json;

// Prometheus names: metrics [a-zA-Z_:][a-zA-Z0-9_:]*, labels [a-zA-Z_][a-zA-Z0-9_]* (hand-checked: GCC 12
// warns inside <regex> under the sanitizer flags).
bool is_name(const std::string& s, bool colon) {
  auto head = [&](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon && c == ':'); };
  if (s.empty() || !head(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(),
                     [&](char c) { return head(c) || std::isdigit(static_cast<unsigned char>(c)); });
}
bool is_metric_name(const std::string& s) { return is_name(s, true); }
bool is_label_name(const std::string& s) { return is_name(s, false); }

// Series "name{l1="v1",...}" (labels as written) -> value. Fails the test on any rule broken.
std::map<std::string, double> parse_exposition(const std::string& text) {
  std::map<std::string, double> series;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the text must end with a newline";
  std::map<std::string, std::string> type_of;  // family -> type
  std::set<std::string> help_seen, closed;     // families whose samples have ended
  std::string current;                         // family of the last sample
  // Family of a sample name: itself, or for histograms name minus _bucket/_sum/_count.
  auto family_of = [&](const std::string& name) {
    for (const char* suf : {"_bucket", "_sum", "_count"}) {
      const std::string s = suf;
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        std::string base = name.substr(0, name.size() - s.size());
        if (type_of.count(base) && type_of[base] == "histogram") return base;
      }
    }
    return name;
  };
  size_t pos = 0;
  int lineno = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    const std::string where = "line " + std::to_string(lineno) + ": " + line;
    if (line.empty()) continue;
    if (line[0] == '#') {
      // "# HELP|TYPE name rest"; other comments are allowed
      if (line.rfind("# HELP ", 0) != 0 && line.rfind("# TYPE ", 0) != 0) continue;
      const size_t name_end = line.find(' ', 7);
      if (name_end == std::string::npos || name_end == 7) continue;
      const std::string kind = line.substr(2, 4), name = line.substr(7, name_end - 7), rest = line.substr(name_end + 1);
      EXPECT_TRUE(is_metric_name(name)) << where;
      EXPECT_EQ(closed.count(name), 0u) << where << " (metadata after the family's samples)";
      EXPECT_NE(current, name) << where << " (metadata after the family's samples)";
      if (kind == "HELP") {
        EXPECT_TRUE(help_seen.insert(name).second) << where << " (second HELP)";
      } else {
        EXPECT_TRUE(rest == "counter" || rest == "gauge" || rest == "histogram" || rest == "summary" ||
                    rest == "untyped")
            << where;
        EXPECT_EQ(type_of.count(name), 0u) << where << " (second TYPE)";
        type_of[name] = rest;
        if (rest == "counter") {
          EXPECT_TRUE(name.size() > 6 && name.substr(name.size() - 6) == "_total") << where;
        }
      }
      continue;
    }
    // name [{labels}] value [timestamp]
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name = line.substr(0, i);
    EXPECT_TRUE(is_metric_name(name)) << where;
    std::string labels;
    std::set<std::string> label_names;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size()) {
          ADD_FAILURE() << where << " (label without a value)";
          return series;
        }
        const std::string lname = line.substr(i, eq - i);
        EXPECT_TRUE(is_label_name(lname)) << where;
        EXPECT_TRUE(label_names.insert(lname).second) << where << " (label twice)";
        EXPECT_EQ(line[eq + 1], '"') << where;
        size_t j = eq + 2;
        std::string value;
        while (j < line.size() && line[j] != '"') {
          if (line[j] == '\\') {
            ++j;
            EXPECT_TRUE(j < line.size() && (line[j] == '\\' || line[j] == '"' || line[j] == 'n')) << where;
          }
          value += line[j++];
        }
        EXPECT_LT(j, line.size()) << where << " (unterminated label value)";
        if (!labels.empty()) labels += ",";
        labels += line.substr(i, j + 1 - i);
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      EXPECT_LT(i, line.size()) << where;
      ++i;
    }
    EXPECT_TRUE(i < line.size() && line[i] == ' ') << where;
    std::string rest = line.substr(i + 1);
    const std::string value = rest.substr(0, rest.find(' '));
    double v = 0;
    if (value == "+Inf") {
      v = INFINITY;
    } else if (value == "-Inf") {
      v = -INFINITY;
    } else if (value == "NaN") {
      v = NAN;
    } else {
      size_t used = 0;
      try {
        v = std::stod(value, &used);
      } catch (const std::exception&) {
      }
      EXPECT_EQ(used, value.size()) << where << " (not a float)";
    }
    const std::string fam = family_of(name);
    EXPECT_TRUE(type_of.count(fam)) << where << " (no TYPE before the samples)";
    if (fam != current) {
      EXPECT_EQ(closed.count(fam), 0u) << where << " (family's samples not together)";
      if (!current.empty()) closed.insert(current);
      current = fam;
    }
    if (type_of[fam] == "histogram") {
      EXPECT_NE(name, fam) << where << " (histogram sample without a suffix)";
    }
    if (name.size() > 7 && name.substr(name.size() - 7) == "_bucket") {
      EXPECT_TRUE(label_names.count("le")) << where;
    }
    const std::string key = labels.empty() ? name : name + "{" + labels + "}";
    EXPECT_TRUE(series.emplace(key, v).second) << where << " (duplicate series)";
  }
  // Histograms: buckets cumulative, +Inf == _count, per label set.
  for (const auto& [fam, type] : type_of) {
    if (type != "histogram") continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // other labels -> (le, count)
    for (const auto& [key, v] : series) {
      if (key.rfind(fam + "_bucket{", 0) != 0) continue;
      std::string labels = key.substr(fam.size() + 8, key.size() - fam.size() - 9);
      // le="..." first or after a comma; the other labels are what is left around it
      size_t at = labels.rfind("le=\"", 0) == 0 ? 0 : labels.find(",le=\"");
      if (at == std::string::npos) {
        ADD_FAILURE() << key << " has no le label";
        continue;
      }
      const size_t value_at = labels.find('"', at) + 1, value_end = labels.find('"', value_at);
      if (value_end == std::string::npos) {
        ADD_FAILURE() << key << ": unterminated le";
        continue;
      }
      const std::string le = labels.substr(value_at, value_end - value_at);
      std::string others = labels.substr(0, at) + labels.substr(value_end + 1);
      if (!others.empty() && others[0] == ',') others = others.substr(1);
      buckets[others].push_back({le == "+Inf" ? INFINITY : std::stod(le), v});
    }
    for (auto& [others, b] : buckets) {
      std::sort(b.begin(), b.end());
      for (size_t k = 1; k < b.size(); ++k) EXPECT_LE(b[k - 1].second, b[k].second) << fam << " " << others;
      EXPECT_TRUE(std::isinf(b.back().first)) << fam << " lacks le=\"+Inf\"";
      const std::string suffix = others.empty() ? "" : "{" + others + "}";
      EXPECT_TRUE(series.count(fam + "_count" + suffix)) << fam << suffix;
      EXPECT_TRUE(series.count(fam + "_sum" + suffix)) << fam << suffix;
      EXPECT_EQ(series[fam + "_count" + suffix], b.back().second) << fam << suffix;
    }
  }
  return series;
}

struct MetricsServer {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Server> server;
  std::atomic<int> logged{0};

  explicit MetricsServer(ServerOptions o = {}) {
    const std::string dir = test::fixture("tiny-qwen2");
    model = Model::load(dir);
    tok = Tokenizer::from_dir(dir);
    o.port = 0;
    o.access_log = [this](const std::string&) { ++logged; };
    server = std::make_unique<Server>(*model, *tok, generation_params_from_dir(dir), o);
    server->start();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(60);
    return c;
  }
  json post(const std::string& path, const json& body, int status = 200) const {
    auto res = client().Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, status) << res->body;
    return res->body.rfind("data: ", 0) == 0 ? json(res->body) : json::parse(res->body);
  }
  // Metrics are recorded by the access logger, just after each response is sent: wait for n lines.
  void wait_logged(int n) const {
    for (int i = 0; i < 500 && logged.load() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GE(logged.load(), n);
  }
  std::map<std::string, double> scrape(const httplib::Headers& h = {}) const {
    auto res = client().Get("/metrics", h);
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return parse_exposition(res->body);
  }
};

TEST(ServeMetrics, CountersMoveByWhatTheRequestsDid) {
  ServerOptions o;
  o.parallel = 2;
  MetricsServer s(o);
  auto m0 = s.scrape();
  EXPECT_EQ(m0["devops_model_slots"], 2);
  EXPECT_EQ(m0["devops_model_generation_tokens_total"], 0);
  EXPECT_EQ(m0["devops_model_time_to_first_token_seconds_count"], 0);
  EXPECT_EQ(m0["devops_model_info{model=\"tiny-qwen2\",embedding_model=\"tiny-qwen2\"}"], 1);
  s.wait_logged(1);

  const json chat = {{"messages", {{{"role", "user"}, {"content", "什么是持续集成？"}}}},
                     {"temperature", 0},
                     {"max_tokens", 5},
                     {"ignore_eos", true}};
  long long prompt = 0;
  for (int i = 0; i < 2; ++i) {
    json r = s.post("/v1/chat/completions", chat);
    EXPECT_EQ(r["usage"]["completion_tokens"], 5);
    prompt += r["usage"]["prompt_tokens"].get<long long>();
  }
  json streamed = s.post("/v1/completions", {{"prompt", "kubectl get"},
                                             {"max_tokens", 3},
                                             {"ignore_eos", true},
                                             {"stream", true},
                                             {"stream_options", {{"include_usage", true}}}});
  const std::string body = streamed.get<std::string>();
  const size_t u = body.find("\"usage\"");
  ASSERT_NE(u, std::string::npos);
  const size_t start = body.rfind("data: ", u) + 6;
  json usage = json::parse(body.substr(start, body.find('\n', start) - start))["usage"];
  EXPECT_EQ(usage["completion_tokens"], 3);
  prompt += usage["prompt_tokens"].get<long long>();
  s.post("/v1/chat/completions", {{"messages", "not a list"}}, 400);
  json emb = s.post("/v1/embeddings", {{"input", {"helm rollback", "kubectl rollout undo"}}});
  s.post("/v1/no-such-route", json::object(), 404);
  auto health = s.client().Get("/health");
  ASSERT_TRUE(health);
  s.wait_logged(8);

  auto m = s.scrape();
  const std::string R = "devops_model_requests_total";
  EXPECT_EQ(m[R + "{route=\"/v1/chat/completions\",status=\"200\"}"], 2);
  EXPECT_EQ(m[R + "{route=\"/v1/chat/completions\",status=\"400\"}"], 1);
  EXPECT_EQ(m[R + "{route=\"/v1/completions\",status=\"200\"}"], 1);
  EXPECT_EQ(m[R + "{route=\"/v1/embeddings\",status=\"200\"}"], 1);
  EXPECT_EQ(m[R + "{route=\"other\",status=\"404\"}"], 1);
  EXPECT_EQ(m[R + "{route=\"/health\",status=\"200\"}"], 1);
  EXPECT_EQ(m[R + "{route=\"/metrics\",status=\"200\"}"], 1);  // the first scrape
  EXPECT_EQ(m["devops_model_prompt_tokens_total"], prompt);
  EXPECT_EQ(m["devops_model_generation_tokens_total"], 5 + 5 + 3);
  EXPECT_GT(m["devops_model_prompt_tokens_cached_total"], 0);  // the second chat reused the first's prompt
  EXPECT_EQ(m["devops_model_embedding_input_tokens_total"], emb["usage"]["prompt_tokens"].get<double>());
  EXPECT_EQ(m["devops_model_embedding_inputs_total"], 2);
  EXPECT_EQ(m["devops_model_jobs_total{outcome=\"completed\"}"], 3);
  EXPECT_EQ(m["devops_model_time_to_first_token_seconds_count"], 3);
  EXPECT_GT(m["devops_model_time_to_first_token_seconds_sum"], 0);
  EXPECT_GT(m["devops_model_decode_seconds_total"], 0);
  EXPECT_EQ(m["devops_model_request_duration_seconds_count{route=\"/v1/chat/completions\"}"], 3);
  EXPECT_EQ(m["devops_model_request_duration_seconds_count{route=\"/v1/completions\"}"], 1);
  EXPECT_GT(m["devops_model_forward_batches_total"], 0);
  EXPECT_EQ(m["devops_model_slots_busy"], 0);
  EXPECT_EQ(m["devops_model_queue_depth"], 0);
  EXPECT_GT(m["devops_model_kv_cache_used_bytes"], 0);  // the slots keep their prompts for prefix reuse
  EXPECT_LE(m["devops_model_kv_cache_used_bytes"], m["devops_model_kv_cache_reserved_bytes"]);
  // The KV bytes are whole positions of the two slots' caches.
  const double per_position = 2.0 * s.model->config().num_layers * s.model->config().kv_dim() * 4;
  EXPECT_EQ(std::fmod(m["devops_model_kv_cache_used_bytes"], per_position), 0.0);
}

TEST(ServeMetrics, BehindTheApiKey) {
  ServerOptions o;
  o.api_key = "sekrit";
  MetricsServer s(o);
  auto res = s.client().Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  auto m = s.scrape({{"Authorization", "Bearer sekrit"}});
  EXPECT_EQ(m["devops_model_slots"], 1);
  s.wait_logged(2);
  m = s.scrape({{"Authorization", "Bearer sekrit"}});
  EXPECT_EQ(m["devops_model_requests_total{route=\"/metrics\",status=\"401\"}"], 1);
}

// Label values are escaped; unknown routes fold into "other"; values above the last bucket count in +Inf.
TEST(ServeMetrics, RenderEscapesAndBuckets) {
  ServerMetrics mx;
  mx.record("/v1/chat/completions", 200,
            {{"ms", 1e6}, {"finish", "length"}, {"prompt_tokens", 4}, {"completion_tokens", 2}, {"ttft_ms", 9e5}});
  mx.record("/wp-admin/\"x\"", 404, {{"ms", 1}});
  ServerMetrics::Live live;
  live.model = "a\"b\\c\nd";
  const std::string text = mx.render(live);
  auto m = parse_exposition(text);
  EXPECT_EQ(m["devops_model_info{model=\"a\\\"b\\\\c\\nd\",embedding_model=\"\"}"], 1) << text;
  EXPECT_EQ(m["devops_model_requests_total{route=\"other\",status=\"404\"}"], 1);
  EXPECT_EQ(m["devops_model_time_to_first_token_seconds_bucket{le=\"60\"}"], 0);
  EXPECT_EQ(m["devops_model_time_to_first_token_seconds_bucket{le=\"+Inf\"}"], 1);
  EXPECT_EQ(m["devops_model_time_to_first_token_seconds_sum"], 900);
  EXPECT_EQ(m["devops_model_request_duration_seconds_bucket{route=\"other\",le=\"0.005\"}"], 1);
  EXPECT_EQ(m["devops_model_generation_tokens_total"], 2);
}

// The checker itself refuses what the format forbids.
TEST(ServeMetrics, CheckerRejectsBrokenTexts) {
  EXPECT_NONFATAL_FAILURE(parse_exposition("# TYPE a_total counter\na_total 1"), "newline");
  EXPECT_NONFATAL_FAILURE(parse_exposition("a 1\n"), "no TYPE");
  EXPECT_NONFATAL_FAILURE(parse_exposition("# TYPE a counter\na 1\n"), "_total");
  EXPECT_NONFATAL_FAILURE(parse_exposition("# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n"), "duplicate");
  EXPECT_NONFATAL_FAILURE(parse_exposition("# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"2\"} 1\n"), "together");
  EXPECT_NONFATAL_FAILURE(parse_exposition("# TYPE a gauge\na one\n"), "line 2");
  EXPECT_NONFATAL_FAILURE(parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                                           "h_sum 1\nh_count 1\n"),
                          "h");
  EXPECT_NONFATAL_FAILURE(parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"), "+Inf");
}

}  // namespace
}  // namespace dm
