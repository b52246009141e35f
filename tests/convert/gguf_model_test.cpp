// GGUF writing against llama.cpp's own files (../shared/fixtures/tiny-gguf):
// - `quantize` of model-f32.gguf with each llama-quantize preset gives llama-quantize's file byte for byte
//   (same per-tensor types, same bytes, same metadata and layout);
// - `convert --to-gguf` of the Hugging Face directories (tokenizer.json; Qwen1's qwen.tiktoken) gives the
//   tensors and tokenizer keys of the files llama.cpp's converter wrote from the same weights;
// - with llama.cpp's binaries at hand (../shared/anchors), llama.cpp loads what we write and its logits
//   agree with ours.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "devops_model/convert/gguf_model.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/gguf.h"
#include "devops_model/model/gguf_export.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "test_util.h"

namespace dm {
namespace {

std::string tiny_gguf(const std::string& f) { return test::fixture("tiny-gguf/" + f); }

bool same_bytes(const std::string& a, const std::string& b) {
  auto fa = MappedFile::open(a), fb = MappedFile::open(b);
  return fa->size() == fb->size() && std::memcmp(fa->data(), fb->data(), fa->size()) == 0;
}

TEST(GgufQuantize, EveryPresetGivesLlamaQuantizesFile) {
  const std::string dir = test::temp_dir("gguf_quantize");
  struct Case {
    const char* in;
    const char* preset;
    const char* want;
  };
  const Case cases[] = {
      {"model-f32.gguf", "Q8_0", "model-q8_0.gguf"},
      {"model-f32.gguf", "Q4_0", "model-q4_0.gguf"},
      {"model-f32.gguf", "Q4_1", "model-q4_1.gguf"},
      {"model-f32.gguf", "Q5_0", "model-q5_0.gguf"},
      {"model-f32.gguf", "Q5_1", "model-q5_1.gguf"},
      {"model-f32.gguf", "q4_k_m", "model-q4_k_m.gguf"},
      {"model-f32.gguf", "Q5_K_M", "model-q5_k_m.gguf"},
      {"model-f32.gguf", "Q6_K", "model-q6_k.gguf"},
      {"model-f32.gguf", "Q2_K", "model-q2_k.gguf"},
      {"model-f32.gguf", "Q3_K_M", "model-q3_k_m.gguf"},
      // 64-wide rows: Q6_K falls back to Q8_0 everywhere and ffn_down's 176-wide rows to F16.
      {"model-qwen1-f32.gguf", "Q6_K", "model-qwen1-q8_0.gguf"},
  };
  for (const Case& c : cases) {
    const std::string out = dir + "/" + c.want;
    const GgufModelReport r = write_gguf_model(tiny_gguf(c.in), out, c.preset);
    EXPECT_TRUE(same_bytes(out, tiny_gguf(c.want))) << c.preset << " -> " << c.want;
    EXPECT_EQ(r.tensors, static_cast<int>(GgufFile::open(out)->tensor_order().size()));
  }
}

TEST(GgufQuantize, PlanFallsBackWhenRowsAreNotWholeBlocks) {
  // A (4, 96) matrix: 96 is not a multiple of 256, so Q4_K -> Q5_0; a (4, 48) one -> F16.
  std::vector<float> a(4 * 96, 0.5f), b(4 * 48, 0.5f);
  std::vector<GgufOutTensor> t = {{"blk.0.ffn_up.weight", TensorView{DType::kF32, {4, 96}, a.data()}, DType::kF32},
                                  {"blk.0.ffn_gate.weight", TensorView{DType::kF32, {4, 48}, b.data()}, DType::kF32},
                                  {"blk.0.attn_norm.weight", TensorView{DType::kF32, {96}, a.data()}, DType::kF32}};
  EXPECT_EQ(plan_gguf_types(t, gguf_preset("Q4_K_M"), {1, 1, 1}), 2);
  for (const auto& x : t) {
    const DType want = x.name == "blk.0.ffn_up.weight"     ? DType::kQ5_0
                       : x.name == "blk.0.ffn_gate.weight" ? DType::kF16
                                                           : DType::kF32;
    EXPECT_EQ(x.type, want) << x.name;
  }
}

TEST(GgufQuantize, UnknownTypeIsAnInvalidArgumentListingThePresets) {
  try {
    gguf_preset("Q4_K_X");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("Q4_K_M"), std::string::npos) << e.what();
  }
}

// Same names, types, shapes and bytes for every tensor of `a` and `b` (in any order), and the same values
// for `keys`.
void expect_same_model(const std::string& a, const std::string& b, const std::vector<std::string>& keys) {
  auto fa = GgufFile::open(a), fb = GgufFile::open(b);
  EXPECT_EQ(fa->names(), fb->names());
  for (const std::string& n : fa->names()) {
    if (!fb->has(n)) continue;
    const TensorView ta = fa->get(n), tb = fb->get(n);
    EXPECT_EQ(ta.dtype, tb.dtype) << n;
    EXPECT_EQ(ta.shape, tb.shape) << n;
    if (ta.dtype == tb.dtype && ta.shape == tb.shape) {
      EXPECT_EQ(0, std::memcmp(ta.data, tb.data, ta.nbytes())) << n;
    }
  }
  for (const std::string& k : keys) {
    const GgufValue* va = fa->metadata().find(k);
    const GgufValue* vb = fb->metadata().find(k);
    ASSERT_TRUE(va && vb) << k;
    EXPECT_EQ(va->type, vb->type) << k;
    EXPECT_EQ(va->scalar, vb->scalar) << k;
    ASSERT_EQ(va->array.size(), vb->array.size()) << k;
    for (size_t i = 0; i < va->array.size(); ++i)
      ASSERT_EQ(va->array[i].scalar, vb->array[i].scalar) << k << "[" << i << "]";
  }
}

TEST(GgufConvert, HuggingFaceDirectoryGivesLlamaCppsConversion) {
  const std::string out = test::temp_dir("gguf_convert") + "/tiny.gguf";
  write_gguf_model(test::fixture("tiny-gguf"), out, "F32");
  expect_same_model(
      out, tiny_gguf("model-f32.gguf"),
      {"general.architecture", "qwen2.block_count", "qwen2.embedding_length", "qwen2.feed_forward_length",
       "qwen2.attention.head_count", "qwen2.attention.head_count_kv", "qwen2.rope.freq_base",
       "qwen2.attention.layer_norm_rms_epsilon", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
       "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.chat_template"});
  // And from our file, quantized: the same bytes as llama-quantize's from llama.cpp's file.
  const std::string q = out + ".q4_k_m.gguf";
  write_gguf_model(out, q, "Q4_K_M");
  expect_same_model(q, tiny_gguf("model-q4_k_m.gguf"), {"general.file_type"});
}

TEST(GgufConvert, Qwen1TiktokenDirectoryGivesMergesRebuiltFromRanks) {
  const std::string out = test::temp_dir("gguf_convert_qwen1") + "/qwen1.gguf";
  write_gguf_model(test::fixture("tiny-qwen1"), out, "F32");
  expect_same_model(out, tiny_gguf("model-qwen1-f32.gguf"),
                    {"general.architecture", "qwen.block_count", "qwen.embedding_length", "qwen.feed_forward_length",
                     "qwen.rope.dimension_count", "qwen.attention.head_count", "tokenizer.ggml.tokens",
                     "tokenizer.ggml.token_type", "tokenizer.ggml.merges"});
  // The file runs as the Hugging Face checkpoint does.
  auto golden = SafetensorsFile::open(test::fixture("tiny-qwen1/golden.safetensors"));
  auto model = Model::load(out);
  const std::vector<int32_t> ids = test::golden_ids(*golden, "seq1.ids");
  const std::vector<float> want = test::golden_f32(*golden, "seq1.logits");
  auto cache = model->new_cache();
  std::vector<float> got;
  model->forward(ids, *cache, got, true);
  ASSERT_EQ(got.size(), want.size());
  double max_diff = 0;
  for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(got[i]) - want[i]));
  EXPECT_LT(max_diff, 1e-4);
}

std::vector<float> logits_file(const std::string& path) { return SafetensorsFile::open(path)->get("logits").to_f32(); }

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

// HF dir -> our GGUF -> llama.cpp: f32 gives our logits of the HF dir; a quantized file gives our logits of
// that file within llama.cpp's activation rounding (fixtures README: llama.cpp vs the oracle per type).
TEST(GgufConvert, LlamaCppLoadsOurFilesAndAgrees) {
  const std::string bin = test::fixture("../anchors/llama.cpp/bin");
  if (!std::filesystem::exists(bin + "/llama_logits")) GTEST_SKIP() << "no llama.cpp anchors at " << bin;
  const std::string dir = test::temp_dir("gguf_llama");
  struct Case {
    const char* model;
    const char* type;
    double tolerance;
  };
  const Case cases[] = {{"tiny-gguf", "F32", 1e-4},          {"tiny-gguf", "Q8_0", 0.44 * 1.1},
                        {"tiny-gguf", "Q4_K_M", 0.64 * 1.1}, {"tiny-gguf", "Q4_0", 0.49 * 1.1},
                        {"tiny-qwen1", "F32", 1e-4},         {"tiny-qwen1", "Q6_K", 0.38 * 1.1}};
  const std::string ids = "1,5,100,200,300,400,500,3,7,42,17";  // within tiny-qwen1's 24 positions
  for (const Case& c : cases) {
    const std::string f = dir + "/" + c.model + "-" + c.type + ".gguf";
    write_gguf_model(test::fixture(c.model), f, c.type);
    // Without AMX (the shim), as the fixtures were made: this llama.cpp's AMX kernels are wrong for Q4_0/Q4_1.
    auto r = test::run_cmd("LD_PRELOAD=" + bin + "/no_amx_shim.so " + bin + "/llama_logits -m " + f + " --ids " + ids +
                           " --all --threads 2 --out " + f + ".llama.safetensors");
    ASSERT_EQ(r.status, 0) << r.err;
    const bool exact = std::string(c.type) == "F32";
    const std::string ours_of = exact ? test::fixture(c.model) : f;
    r = test::run_cmd(test::cli() + " logits --model " + ours_of + " --ids " + ids + " --out " + f +
                      ".ours.safetensors");
    ASSERT_EQ(r.status, 0) << r.err;
    const double d = max_abs_diff(logits_file(f + ".llama.safetensors"), logits_file(f + ".ours.safetensors"));
    std::printf("%s %s: max |llama.cpp on our GGUF - ours on %s| %.3g\n", c.model, c.type,
                exact ? "the HF dir" : "the GGUF", d);
    EXPECT_LT(d, c.tolerance) << c.model << " " << c.type;
  }
}

}  // namespace
}  // namespace dm
