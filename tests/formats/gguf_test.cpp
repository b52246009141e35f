// GGUF reader and writer: every tiny-gguf fixture file parses with the types and shapes its manifest
// (gguf-py's reader) lists; f32 tensors equal the safetensors weights; the writer round-trips metadata
// of every type and tensors at any alignment; hostile files are clear errors (this suite also runs under
// ASan+UBSan).
#include "devops_model/formats/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/formats/tensor_source.h"
#include "test_util.h"

namespace dm {
namespace {

const std::string kDir = "tiny-gguf/";

nlohmann::json manifest() {
  std::ifstream in(test::fixture(kDir + "manifest.json"));
  return nlohmann::json::parse(in);
}

TEST(GgufFixtures, EveryFileMatchesItsManifest) {
  const nlohmann::json m = manifest();
  ASSERT_GE(m["files"].size(), 16u);
  for (const auto& [key, f] : m["files"].items()) {
    SCOPED_TRACE(key);
    auto g = GgufFile::open(test::fixture(kDir + f["file"].get<std::string>()));
    EXPECT_EQ(g->names().size(), f["tensors"].size());
    for (const auto& [name, t] : f["tensors"].items()) {
      ASSERT_TRUE(g->has(name)) << name;
      const TensorView v = g->get(name);
      EXPECT_STREQ(dtype_name(v.dtype), t["type"].get<std::string>().c_str()) << name;
      Shape ne = t["ne"].get<Shape>();
      EXPECT_EQ(v.shape, Shape(ne.rbegin(), ne.rend())) << name;  // HF order
    }
    EXPECT_EQ(g->total_bytes(), f["bytes"].get<uint64_t>());
    EXPECT_EQ(g->metadata().get_string("general.architecture"), key.starts_with("qwen1") ? "qwen" : "qwen2");
  }
}

TEST(GgufFixtures, F32TensorsEqualTheSafetensorsWeights) {
  auto g = GgufFile::open(test::fixture(kDir + "model-f32.gguf"));
  auto st = SafetensorsFile::open(test::fixture(kDir + "model.safetensors"));
  const TensorView a = g->get("blk.1.ffn_down.weight"), b = st->get("model.layers.1.mlp.down_proj.weight");
  ASSERT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.to_f32(), b.to_f32());
  EXPECT_EQ(g->get("token_embd.weight").to_f32(), st->get("model.embed_tokens.weight").to_f32());
}

TEST(GgufFixtures, MetadataCarriesTokenizerAndHyperParameters) {
  auto g = GgufFile::open(test::fixture(kDir + "model-q4_k_m.gguf"));
  const GgufMetadata& md = g->metadata();
  EXPECT_EQ(md.get_int("qwen2.block_count"), 2);
  EXPECT_EQ(md.get_int("qwen2.embedding_length"), 256);
  EXPECT_EQ(md.get_int("qwen2.attention.head_count_kv"), 2);
  EXPECT_FLOAT_EQ(static_cast<float>(md.get_float("qwen2.rope.freq_base")), 1e6f);
  EXPECT_EQ(md.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(md.get_strings("tokenizer.ggml.tokens").size(), 512u);
  EXPECT_EQ(md.get_ints("tokenizer.ggml.token_type").size(), 512u);
  EXPECT_FALSE(md.get_strings("tokenizer.ggml.merges").empty());
  EXPECT_THROW(md.get_string("qwen2.block_count"), Error);  // wrong type names the key
  try {
    md.get_int("no.such.key");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.key"), std::string::npos);
  }
}

TEST(GgufFixtures, OpenedThroughTheFormatTable) {
  auto src = open_tensor_source(test::fixture(kDir + "model-q6_k.gguf"));
  EXPECT_TRUE(src->has("blk.0.attn_q.weight"));
  EXPECT_EQ(src->get("blk.0.attn_q.weight").dtype, DType::kQ6_K);
  EXPECT_TRUE(src->drop_pages(src->get("blk.0.attn_q.weight")));
}

TEST(GgufWriter, RoundTripsMetadataOfEveryTypeAndAlignedTensors) {
  const std::string path = test::temp_dir("gguf_rt") + "/x.gguf";
  GgufMetadata md;
  md.set("general.architecture", gguf_string("qwen2"));
  md.set("a.u32", gguf_u32(7));
  md.set("a.i32", gguf_i32(-7));
  md.set("a.f32", gguf_f32(0.5f));
  md.set("a.bool", gguf_bool(true));
  md.set("a.strings", gguf_strings({"x", "", "\xe4\xbd\xa0"}));
  md.set("a.ints", gguf_i32s({1, -2, 3}));
  std::vector<float> w(3 * 64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.25f;
  std::vector<uint16_t> h(5, 0x3c00);  // f16 ones
  for (uint64_t align : {32u, 64u, 4096u}) {
    GgufWriter out(path, md, {{"w", DType::kF32, {3, 64}}, {"h", DType::kF16, {5}}}, align);
    out.write_next(w.data(), w.size() * 4);
    out.write_next(h.data(), h.size() * 2);
    out.commit();
    auto g = GgufFile::open(path);
    EXPECT_EQ(g->version(), 3u);
    EXPECT_EQ(g->alignment(), align);
    EXPECT_EQ(g->tensor_order(), (std::vector<std::string>{"w", "h"}));
    EXPECT_EQ(g->get("w").shape, (Shape{3, 64}));
    EXPECT_EQ(g->get("w").to_f32(), w);
    EXPECT_EQ(g->get("h").to_f32(), std::vector<float>(5, 1.f));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(g->get("h").data) % align, 0u);
    const GgufMetadata& r = g->metadata();
    EXPECT_EQ(r.get_int("a.u32"), 7);
    EXPECT_EQ(r.get_int("a.i32"), -7);
    EXPECT_EQ(r.get_float("a.f32"), 0.5);
    EXPECT_TRUE(r.get_bool_or("a.bool", false));
    EXPECT_EQ(r.get_strings("a.strings"), (std::vector<std::string>{"x", "", "\xe4\xbd\xa0"}));
    EXPECT_EQ(r.get_ints("a.ints"), (std::vector<int64_t>{1, -2, 3}));
  }
}

// ---- hostile files, built byte by byte ----

struct Raw {
  std::string b;
  template <typename T>
  Raw& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Raw& str(const std::string& s) {
    put<uint64_t>(s.size());
    b += s;
    return *this;
  }
};

// Header + one u32 kv + one tensor "t" (F32, ne {n0, n1}, offset `off`) + `data` bytes of data.
Raw one_tensor(uint32_t ggml_type, uint64_t n0, uint64_t n1, uint64_t off, size_t data, uint32_t n_dims = 2) {
  Raw r;
  r.b = "GGUF";
  r.put<uint32_t>(3).put<uint64_t>(1).put<uint64_t>(1);
  r.str("general.architecture").put<uint32_t>(8).str("qwen2");
  r.str("t").put<uint32_t>(n_dims).put<uint64_t>(n0);
  if (n_dims > 1) r.put<uint64_t>(n1);
  for (uint32_t d = 2; d < n_dims; ++d) r.put<uint64_t>(1);
  r.put<uint32_t>(ggml_type).put<uint64_t>(off);
  while (r.b.size() % 32) r.b.push_back('\0');
  r.b.append(data, '\0');
  return r;
}

void expect_bad(const std::string& bytes, ErrorKind kind, const std::string& needle) {
  try {
    GgufFile::parse(nullptr, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.gguf");
    FAIL() << "accepted; wanted an error with " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg << " lacks " << needle;
  }
}

TEST(GgufBadInput, GoodBaselineParses) {
  const Raw r = one_tensor(0, 64, 2, 0, 64 * 2 * 4);
  auto g = GgufFile::parse(nullptr, reinterpret_cast<const uint8_t*>(r.b.data()), r.b.size(), "ok.gguf");
  EXPECT_EQ(g->get("t").shape, (Shape{2, 64}));
}

TEST(GgufBadInput, EveryTruncationIsAnError) {
  const Raw r = one_tensor(0, 64, 2, 0, 64 * 2 * 4);
  for (size_t n = 0; n < r.b.size(); n += (n < 200 ? 1 : 97)) {
    const std::string cut = r.b.substr(0, n);
    EXPECT_THROW(GgufFile::parse(nullptr, reinterpret_cast<const uint8_t*>(cut.data()), cut.size(), "cut.gguf"), Error)
        << n;
  }
}

TEST(GgufBadInput, HeaderFields) {
  std::string b = one_tensor(0, 64, 2, 0, 512).b;
  expect_bad("GGUX" + b.substr(4), ErrorKind::kFormat, "magic");
  std::string v = b;
  v[4] = 7;
  expect_bad(v, ErrorKind::kFormat, "version 7");
  v[4] = 1;
  expect_bad(v, ErrorKind::kUnsupported, "version 1");
  std::string huge = b;
  const uint64_t big = uint64_t{1} << 60;
  std::memcpy(huge.data() + 8, &big, 8);
  expect_bad(huge, ErrorKind::kFormat, "tensor_count");
  huge = b;
  std::memcpy(huge.data() + 16, &big, 8);
  expect_bad(huge, ErrorKind::kFormat, "metadata_kv_count");
  std::string slen = b;
  std::memcpy(slen.data() + 24, &big, 8);  // length of the first key
  expect_bad(slen, ErrorKind::kFormat, "string length");
}

TEST(GgufBadInput, MetadataValues) {
  Raw r;
  r.b = "GGUF";
  r.put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1).str("k").put<uint32_t>(13);
  expect_bad(r.b, ErrorKind::kFormat, "unknown value type 13");
  Raw a;
  a.b = "GGUF";
  a.put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1).str("tokenizer.ggml.tokens").put<uint32_t>(9);
  a.put<uint32_t>(8).put<uint64_t>(uint64_t{1} << 40);
  expect_bad(a.b, ErrorKind::kFormat, "array length");
  Raw d;
  d.b = "GGUF";
  d.put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(2);
  d.str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(2);
  expect_bad(d.b, ErrorKind::kFormat, "twice");
  Raw al;
  al.b = "GGUF";
  al.put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(48);
  expect_bad(al.b, ErrorKind::kFormat, "power of two");
  Raw bl;
  bl.b = "GGUF";
  bl.put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1).str("b").put<uint32_t>(7).put<uint8_t>(2);
  expect_bad(bl.b, ErrorKind::kFormat, "bool");
}

TEST(GgufBadInput, TensorInfos) {
  expect_bad(one_tensor(99, 64, 2, 0, 512).b, ErrorKind::kFormat, "unknown ggml type 99");
  expect_bad(one_tensor(17, 256, 2, 0, 512).b, ErrorKind::kUnsupported, "IQ2_XS");
  expect_bad(one_tensor(12, 100, 2, 0, 512).b, ErrorKind::kFormat, "not a multiple of Q4_K's block of 256");
  expect_bad(one_tensor(0, 64, 2, 8, 1024).b, ErrorKind::kFormat, "alignment");
  expect_bad(one_tensor(0, 64, 2, 0, 511).b, ErrorKind::kFormat, "beyond the end");
  expect_bad(one_tensor(0, 64, 2, uint64_t{1} << 62, 512).b, ErrorKind::kFormat, "beyond the end");
  expect_bad(one_tensor(0, 64, 2, 0, 512, 5).b, ErrorKind::kFormat, "n_dims 5");
  expect_bad(one_tensor(0, uint64_t{1} << 45, 2, 0, 512).b, ErrorKind::kFormat, "too large");
  expect_bad(one_tensor(0, uint64_t{1} << 30, uint64_t{1} << 30, 0, 512).b, ErrorKind::kFormat, "overflows");
}

TEST(GgufBadInput, OverlappingAndDuplicateTensors) {
  Raw r;
  r.b = "GGUF";
  r.put<uint32_t>(3).put<uint64_t>(2).put<uint64_t>(0);
  for (const char* name : {"a", "b"}) r.str(name).put<uint32_t>(1).put<uint64_t>(16).put<uint32_t>(0).put<uint64_t>(0);
  while (r.b.size() % 32) r.b.push_back('\0');
  r.b.append(64, '\0');
  expect_bad(r.b, ErrorKind::kFormat, "overlap");
  Raw d;
  d.b = "GGUF";
  d.put<uint32_t>(3).put<uint64_t>(2).put<uint64_t>(0);
  for (uint64_t off : {0u, 64u}) d.str("a").put<uint32_t>(1).put<uint64_t>(16).put<uint32_t>(0).put<uint64_t>(off);
  while (d.b.size() % 32) d.b.push_back('\0');
  d.b.append(128, '\0');
  expect_bad(d.b, ErrorKind::kFormat, "appears twice");
}

}  // namespace
}  // namespace dm
