// POST /v1/embeddings over HTTP (in-process server on a free loopback port): the decoder's mean-pooled
// final hidden state (tiny-qwen2) and the Sentence-BERT encoder (tiny-bert, --embedding-model), each
// against the model called directly; batch = one by one; base64 = the floats; token-id inputs; errors.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <cstring>
#include <thread>

#include "data/featuriser.h"
#include "devops_model/serve/server.h"
#include "devops_model/tokenizer/wordpiece.h"
#include "serve/embeddings.h"
#include "serve/openai_api.h"
#include "test_util.h"

namespace dm {
namespace {

using nlohmann::json;

struct EmbedServer {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Server> server;

  explicit EmbedServer(ServerOptions o = {}, const std::string& name = "tiny-qwen2") {
    const std::string dir = test::fixture(name);
    model = Model::load(dir);
    tok = Tokenizer::from_dir(dir);
    o.port = 0;
    o.access_log = [](const std::string&) {};
    server = std::make_unique<Server>(*model, *tok, generation_params_from_dir(dir), o);
    server->start();
  }
  httplib::Result post(const json& body, const std::string& path = "/v1/embeddings") const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(60);
    return c.Post(path.c_str(), body.dump(), "application/json");
  }
  json ok(const json& body) const {
    auto res = post(body);
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body);
  }
  // The error object of a refused request (expects `status`).
  json refused(const json& body, int status) const {
    auto res = post(body);
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, status) << res->body;
    return json::parse(res->body)["error"];
  }
};

std::vector<float> floats(const json& e) {
  std::vector<float> v;
  for (const auto& x : e) v.push_back(x.get<float>());
  return v;
}

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

std::vector<float> decode_base64_floats(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string bytes;
  for (size_t i = 0; i + 3 < s.size(); i += 4) {
    int n = 0, pad = 0;
    for (int k = 0; k < 4; ++k) {
      const int v = s[i + static_cast<size_t>(k)] == '=' ? (++pad, 0) : val(s[i + static_cast<size_t>(k)]);
      EXPECT_GE(v, 0);
      n = n << 6 | v;
    }
    bytes += static_cast<char>(n >> 16 & 0xff);
    if (pad < 2) bytes += static_cast<char>(n >> 8 & 0xff);
    if (pad < 1) bytes += static_cast<char>(n & 0xff);
  }
  EXPECT_EQ(bytes.size() % 4, 0u);
  std::vector<float> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t u = 0;
    for (int b = 0; b < 4; ++b) u |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    std::memcpy(&out[i], &u, 4);
  }
  return out;
}

// The decoder embedding computed here from Model::hidden_states: mean over positions, L2-normalised.
std::vector<float> decoder_embedding(const Model& m, const std::vector<int32_t>& ids) {
  auto cache = m.new_cache();
  std::vector<float> h;
  m.hidden_states(ids, *cache, h);
  const size_t C = static_cast<size_t>(m.config().hidden_size);
  std::vector<double> sum(C, 0.0);
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t c = 0; c < C; ++c) sum[c] += h[t * C + c];
  std::vector<float> v(C);
  double ss = 0;
  for (size_t c = 0; c < C; ++c) {
    v[c] = static_cast<float>(sum[c] / static_cast<double>(ids.size()));
    ss += static_cast<double>(v[c]) * v[c];
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(ss));
  return v;
}

const std::vector<std::string> kTexts = {"kubectl get pods -n prod", "什么是持续集成？",
                                         "The deployment rolled back after the health check failed twice."};

TEST(Embeddings, Base64IsLittleEndianFloat32) {
  EXPECT_EQ(base64_floats(std::vector<float>{1.0f}), "AACAPw==");
  EXPECT_EQ(base64_floats(std::vector<float>{1.0f, -2.0f}), "AACAPwAAAMA=");
  EXPECT_EQ(base64_floats(std::vector<float>{1.0f, -2.0f, 0.5f}), "AACAPwAAAMAAAAA/");
  EXPECT_EQ(base64_floats(std::vector<float>{}), "");
}

TEST(Embeddings, DecoderIsTheMeanPooledNormalisedFinalHiddenState) {
  EmbedServer s;
  json j = s.ok({{"input", kTexts[0]}, {"model", "tiny-qwen2"}});
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "tiny-qwen2");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["object"], "embedding");
  EXPECT_EQ(j["data"][0]["index"], 0);
  std::vector<float> got = floats(j["data"][0]["embedding"]);
  ASSERT_EQ(got.size(), static_cast<size_t>(s.model->config().hidden_size));
  EXPECT_NEAR(norm(got), 1.0, 1e-6);
  const std::vector<int32_t> ids = s.tok->encode(kTexts[0], false);
  EXPECT_EQ(j["usage"]["prompt_tokens"], ids.size());
  EXPECT_EQ(j["usage"]["total_tokens"], ids.size());
  const std::vector<float> want = decoder_embedding(*s.model, ids);
  for (size_t c = 0; c < want.size(); ++c) EXPECT_NEAR(got[c], want[c], 1e-6) << c;
}

TEST(Embeddings, BatchEqualsOneByOneAndTokenIdsEqualText) {
  EmbedServer s;
  json batch = s.ok({{"input", kTexts}});
  ASSERT_EQ(batch["data"].size(), kTexts.size());
  long long tokens = 0;
  for (size_t i = 0; i < kTexts.size(); ++i) {
    EXPECT_EQ(batch["data"][i]["index"], i);
    json one = s.ok({{"input", json::array({kTexts[i]})}});
    std::vector<float> a = floats(batch["data"][i]["embedding"]), b = floats(one["data"][0]["embedding"]);
    ASSERT_EQ(a.size(), b.size());
    for (size_t c = 0; c < a.size(); ++c) EXPECT_NEAR(a[c], b[c], 1e-5) << i << " " << c;
    tokens += one["usage"]["prompt_tokens"].get<long long>();
  }
  EXPECT_EQ(batch["usage"]["prompt_tokens"], tokens);
  // Token ids: one list, and a list of lists.
  const std::vector<int32_t> ids0 = s.tok->encode(kTexts[0], false), ids1 = s.tok->encode(kTexts[1], false);
  json by_ids = s.ok({{"input", ids0}});
  EXPECT_EQ(by_ids["data"][0]["embedding"], s.ok({{"input", kTexts[0]}})["data"][0]["embedding"]);
  json lists = s.ok({{"input", json::array({ids0, ids1})}});
  ASSERT_EQ(lists["data"].size(), 2u);
  EXPECT_EQ(lists["usage"]["prompt_tokens"], ids0.size() + ids1.size());
  std::vector<float> a = floats(lists["data"][1]["embedding"]), b = floats(batch["data"][1]["embedding"]);
  for (size_t c = 0; c < a.size(); ++c) EXPECT_NEAR(a[c], b[c], 1e-5);
}

TEST(Embeddings, Base64DecodesToTheFloatResult) {
  EmbedServer s;
  json f = s.ok({{"input", kTexts}, {"encoding_format", "float"}});
  json b = s.ok({{"input", kTexts}, {"encoding_format", "base64"}});
  ASSERT_EQ(b["data"].size(), kTexts.size());
  for (size_t i = 0; i < kTexts.size(); ++i) {
    ASSERT_TRUE(b["data"][i]["embedding"].is_string());
    std::vector<float> dec = decode_base64_floats(b["data"][i]["embedding"].get<std::string>());
    std::vector<float> fl = floats(f["data"][i]["embedding"]);
    ASSERT_EQ(dec.size(), fl.size());
    for (size_t c = 0; c < fl.size(); ++c) EXPECT_EQ(dec[c], fl[c]) << i << " " << c;  // bit for bit
  }
  // dimensions equal to the model's is accepted.
  s.ok({{"input", "x"}, {"dimensions", s.model->config().hidden_size}});
}

TEST(Embeddings, ErrorsNameTheField) {
  EmbedServer s;
  const int C = s.model->config().hidden_size;
  EXPECT_EQ(s.refused({{"input", "x"}, {"dimensions", C / 2}}, 400)["param"], "dimensions");
  EXPECT_EQ(s.refused({{"input", "x"}, {"dimensions", 0}}, 400)["param"], "dimensions");
  EXPECT_EQ(s.refused({{"input", "x"}, {"encoding_format", "int8"}}, 400)["param"], "encoding_format");
  EXPECT_EQ(s.refused({{"model", "tiny-qwen2"}}, 400)["param"], "input");
  EXPECT_EQ(s.refused({{"input", ""}}, 400)["param"], "input");
  EXPECT_EQ(s.refused({{"input", json::array()}}, 400)["param"], "input");
  EXPECT_EQ(s.refused({{"input", {"a", 1}}}, 400)["param"], "input");
  EXPECT_EQ(s.refused({{"input", {{1, 2}, "a"}}}, 400)["param"], "input");
  EXPECT_EQ(s.refused({{"input", {1, -2}}}, 400)["param"], "input");
  EXPECT_EQ(s.refused({{"input", {1, 2.5}}}, 400)["param"], "input");
  EXPECT_EQ(s.refused({{"input", 42}}, 400)["param"], "input");
  json e = s.refused({{"input", {1, s.model->config().vocab_size}}}, 400);
  EXPECT_EQ(e["param"], "input");
  EXPECT_NE(e["message"].get<std::string>().find("vocabulary"), std::string::npos) << e;
  // Over the context: the second input is named.
  std::string longer;
  for (int i = 0; i < 200; ++i) longer += "word" + std::to_string(i) + " ";
  e = s.refused({{"input", {"short", longer}}}, 400);
  EXPECT_EQ(e["param"], "input");
  EXPECT_EQ(e["code"], "context_length_exceeded");
  EXPECT_NE(e["message"].get<std::string>().find("input[1]"), std::string::npos) << e;
  std::vector<std::string> many(kMaxEmbeddingInputs + 1, "a");
  EXPECT_EQ(s.refused({{"input", many}}, 400)["param"], "input");
  EXPECT_EQ(s.refused({{"input", "x"}, {"model", "gpt-4"}}, 404)["code"], "model_not_found");
  auto res = s.post(json::object());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  httplib::Client c("127.0.0.1", s.server->port());
  res = c.Post("/v1/embeddings", "{not json", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "invalid_json");
}

// While a generation holds the only slot, a decoder embedding waits for it (the scheduler's capacity)
// and both complete.
TEST(Embeddings, DecoderEmbeddingWaitsForTheSlot) {
  ServerOptions o;
  o.parallel = 1;
  EmbedServer s(o);
  std::thread gen([&] {
    auto r =
        s.post({{"prompt", "hello"}, {"max_tokens", 64}, {"ignore_eos", true}, {"temperature", 0}}, "/v1/completions");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  });
  for (int i = 0; i < 4; ++i) s.ok({{"input", kTexts}});
  gen.join();
  EXPECT_EQ(s.server->stats().busy, 0);
}

TEST(Embeddings, SentenceBertIsTheEncoderDataUses) {
  ServerOptions o;
  o.embedding_model = test::fixture("tiny-bert");
  EmbedServer s(o);
  json j = s.ok({{"input", kTexts}, {"model", "tiny-bert"}});
  EXPECT_EQ(j["model"], "tiny-bert");
  ASSERT_EQ(j["data"].size(), kTexts.size());
  data::SbertFeaturiser direct(test::fixture("tiny-bert"));
  std::vector<std::string_view> views(kTexts.begin(), kTexts.end());
  Tensor want = direct.embed(views);
  const int C = direct.dimensions();
  WordPieceTokenizer wp = WordPieceTokenizer::load_dir(test::fixture("tiny-bert"));
  long long tokens = 0;
  for (size_t i = 0; i < kTexts.size(); ++i) {
    std::vector<float> got = floats(j["data"][i]["embedding"]);
    ASSERT_EQ(got.size(), static_cast<size_t>(C));
    for (int c = 0; c < C; ++c) EXPECT_EQ(got[static_cast<size_t>(c)], want.f32()[i * C + c]) << i << " " << c;
    tokens += static_cast<long long>(wp.encode(kTexts[i]).size());
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], tokens);
  // tiny-bert declares mean pooling without a Normalize module: not unit vectors.
  EXPECT_GT(std::abs(norm(floats(j["data"][0]["embedding"])) - 1.0), 1e-3);
  // Batch = one by one; the served model's name is accepted too; token ids get [CLS] ... [SEP].
  json one = s.ok({{"input", kTexts[2]}, {"model", "tiny-qwen2"}});
  std::vector<float> a = floats(one["data"][0]["embedding"]), b = floats(j["data"][2]["embedding"]);
  for (size_t c = 0; c < a.size(); ++c) EXPECT_NEAR(a[c], b[c], 1e-5);
  std::vector<int32_t> ids = wp.encode(kTexts[0]);
  json by_ids = s.ok({{"input", std::vector<int32_t>(ids.begin() + 1, ids.end() - 1)}});
  EXPECT_EQ(by_ids["data"][0]["embedding"], j["data"][0]["embedding"]);
  EXPECT_EQ(by_ids["usage"]["prompt_tokens"], ids.size());
  // Over max_position_embeddings (64): refused, not truncated as `data` does.
  std::string longer;
  for (int i = 0; i < 80; ++i) longer += "pod ";
  EXPECT_EQ(s.refused({{"input", longer}}, 400)["code"], "context_length_exceeded");
  EXPECT_EQ(s.refused({{"input", "x"}, {"dimensions", C + 1}}, 400)["param"], "dimensions");
  // /v1/models lists both.
  httplib::Client c("127.0.0.1", s.server->port());
  auto res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  json models = json::parse(res->body);
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][0]["id"], "tiny-qwen2");
  EXPECT_EQ(models["data"][1]["id"], "tiny-bert");
}

}  // namespace
}  // namespace dm
