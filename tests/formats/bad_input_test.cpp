// Malformed checkpoints: every case is a clear dm::Error naming the file (and tensor), never a crash.
// This suite also runs under ASan+UBSan (make test-asan).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/formats/torch_bin.h"
#include "devops_model/model/model.h"
#include "test_util.h"

namespace dm {
namespace {

namespace fs = std::filesystem;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// A safetensors file from a raw header string and a data buffer of `data_len` zero bytes.
std::string st_bytes(const std::string& header, size_t data_len) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_len, '\0');
}

// Expects opening to throw dm::Error of `kind` whose message contains every needle.
template <typename Fn>
void expect_error(Fn&& fn, ErrorKind kind, std::vector<std::string> needles) {
  try {
    fn();
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " lacks " << n;
  }
}

class BadSafetensors : public testing::Test {
 protected:
  void SetUp() override { dir_ = test::temp_dir("bad_st"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& bytes) {
    std::string p = dir_ + "/model.safetensors";
    write_bytes(p, bytes);
    return p;
  }
  std::string dir_;
};

TEST_F(BadSafetensors, TruncatedFile) {
  std::string good = read_file(test::fixture("tiny-qwen3/model.safetensors"));
  std::string p = file(good.substr(0, good.size() / 2));
  expect_error([&] { SafetensorsFile::open(p); }, ErrorKind::kFormat, {p, "outside the file"});
  expect_error([&] { SafetensorsFile::open(file(good.substr(0, 5))); }, ErrorKind::kFormat, {"too short"});
}

TEST_F(BadSafetensors, HeaderLengthBeyondFile) {
  std::string b = st_bytes("{}", 0);
  uint64_t n = 1000;
  std::memcpy(b.data(), &n, 8);
  std::string p = file(b);
  expect_error([&] { SafetensorsFile::open(p); }, ErrorKind::kFormat, {p, "beyond the end"});
  n = uint64_t{1} << 60;
  std::memcpy(b.data(), &n, 8);
  expect_error([&] { SafetensorsFile::open(file(b)); }, ErrorKind::kFormat, {"exceeds the limit"});
}

TEST_F(BadSafetensors, InvalidHeaderJson) {
  std::string p = file(st_bytes("{\"a\": [1, 2", 0));
  expect_error([&] { SafetensorsFile::open(p); }, ErrorKind::kFormat, {p, "invalid header JSON"});
}

TEST_F(BadSafetensors, OffsetsOutsideFile) {
  std::string p = file(st_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
  expect_error([&] { SafetensorsFile::open(p); }, ErrorKind::kFormat, {p, "\"w\"", "outside"});
}

TEST_F(BadSafetensors, OverlappingTensors) {
  std::string p = file(st_bytes(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      12));
  expect_error([&] { SafetensorsFile::open(p); }, ErrorKind::kFormat, {p, "overlap", "\"a\"", "\"b\""});
}

TEST_F(BadSafetensors, ShapeDisagreesWithSpan) {
  std::string p = file(st_bytes(R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", 8));
  expect_error([&] { SafetensorsFile::open(p); }, ErrorKind::kFormat, {"\"w\"", "needs 6 bytes"});
}

TEST_F(BadSafetensors, UnknownDtype) {
  std::string p = file(st_bytes(R"({"w":{"dtype":"Q9_9","shape":[1],"data_offsets":[0,1]}})", 1));
  expect_error([&] { SafetensorsFile::open(p); }, ErrorKind::kFormat, {p, "\"w\"", "unknown dtype \"Q9_9\""});
}

TEST_F(BadSafetensors, MissingTensorNamed) {
  std::string p = file(st_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4));
  auto f = SafetensorsFile::open(p);
  expect_error([&] { f->get("v"); }, ErrorKind::kFormat, {p, "missing tensor \"v\""});
}

TEST_F(BadSafetensors, RoundTripWriter) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::string p = dir_ + "/w.safetensors";
  write_safetensors(p, {{"a", TensorView{DType::kF32, {2, 3}, a.data()}}});
  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->get("a").shape, (Shape{2, 3}));
  EXPECT_EQ(f->get("a").to_f32(), a);
  EXPECT_EQ(f->metadata().at("format"), "pt");
}

// Copies a fixture model directory so a test can damage it.
std::string copy_model(const std::string& name, const std::string& tag) {
  std::string d = test::temp_dir(tag);
  for (const auto& e : fs::directory_iterator(test::fixture(name))) {
    fs::copy_file(e.path(), fs::path(d) / e.path().filename());
    fs::permissions(fs::path(d) / e.path().filename(), fs::perms::owner_write, fs::perm_options::add);
  }
  return d;
}

TEST(BadModelDir, MissingTensorNamesDirAndTensor) {
  std::string d = copy_model("tiny-qwen3", "missing_tensor");
  // Re-write model.safetensors without one tensor.
  auto f = SafetensorsFile::open(d + "/model.safetensors");
  std::vector<std::pair<std::string, TensorView>> keep;
  for (const auto& n : f->names())
    if (n != "model.layers.1.mlp.up_proj.weight") keep.emplace_back(n, f->get(n));
  write_safetensors(d + "/rewritten.safetensors", keep);
  f.reset();
  fs::rename(d + "/rewritten.safetensors", d + "/model.safetensors");
  expect_error([&] { Model::load(d); }, ErrorKind::kFormat, {d, "model.layers.1.mlp.up_proj.weight"});
  fs::remove_all(d);
}

TEST(BadModelDir, ShapeDisagreesWithConfig) {
  std::string d = copy_model("tiny-qwen3", "bad_shape");
  auto cfg = nlohmann::json::parse(read_file(d + "/config.json"));
  cfg["intermediate_size"] = 96;
  write_file_atomic(d + "/config.json", cfg.dump());
  expect_error([&] { Model::load(d); }, ErrorKind::kFormat,
               {"model.safetensors", "mlp.gate_proj.weight", "[128, 64]", "[96, 64]"});
  fs::remove_all(d);
}

TEST(BadModelDir, MissingShard) {
  std::string d = copy_model("tiny-qwen2", "missing_shard");
  fs::remove(d + "/model-00002-of-00002.safetensors");
  expect_error([&] { Model::load(d); }, ErrorKind::kIo, {"model-00002-of-00002.safetensors", "missing"});
  fs::remove_all(d);
}

TEST(BadModelDir, UnknownArchitectureListsSupported) {
  std::string d = copy_model("tiny-qwen3", "bad_arch");
  auto cfg = nlohmann::json::parse(read_file(d + "/config.json"));
  cfg["architectures"] = {"LlamaForCausalLM"};
  write_file_atomic(d + "/config.json", cfg.dump());
  expect_error([&] { Model::load(d); }, ErrorKind::kUnsupported,
               {"LlamaForCausalLM", "QWenLMHeadModel", "Qwen2ForCausalLM", "Qwen3ForCausalLM"});
  fs::remove_all(d);
}

TEST(BadModelDir, TruncatedBinShard) {
  std::string d = copy_model("tiny-qwen1-bin", "trunc_bin");
  std::string p = d + "/pytorch_model-00002-of-00002.bin";
  std::string b = read_file(p);
  write_file_atomic(p, b.substr(0, b.size() - 4000));
  try {
    Model::load(d);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pytorch_model-00002-of-00002.bin"), std::string::npos) << e.what();
  }
  fs::remove_all(d);
}

TEST(MaliciousBin, RefusedNamingTheGlobalAndNothingRuns) {
  const char* pwned = "/tmp/devops_model_pwned";
  fs::remove(pwned);
  expect_error([&] { TorchBinFile::open(test::fixture("malicious-bin/pytorch_model.bin")); }, ErrorKind::kSecurity,
               {"pytorch_model.bin", "posix.system"});
  expect_error([&] { Model::load(test::fixture("malicious-bin")); }, ErrorKind::kSecurity, {"posix.system"});
  EXPECT_FALSE(fs::exists(pwned)) << "the pickle's payload ran";
  // Through the CLI too: exit code of a security refusal, message on stderr.
  auto r =
      test::run_cmd(test::cli() + " logits --model " + test::fixture("malicious-bin") + " --ids 1,2 --out /dev/null");
  EXPECT_EQ(r.status, 6) << r.err;
  EXPECT_NE(r.err.find("posix.system"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(pwned));
}

TEST(TorchBin, SameTensorsAsSafetensors) {
  auto bin = TorchBinFile::open(test::fixture("tiny-qwen1-bin/pytorch_model-00001-of-00002.bin"));
  auto st = SafetensorsFile::open(test::fixture("tiny-qwen1/model.safetensors"));
  ASSERT_FALSE(bin->names().empty());
  for (const auto& n : bin->names()) {
    TensorView a = bin->get(n), b = st->get(n);
    ASSERT_EQ(a.shape, b.shape) << n;
    ASSERT_EQ(a.dtype, b.dtype) << n;
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0) << n;
  }
}

}  // namespace
}  // namespace dm
