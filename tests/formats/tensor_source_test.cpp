// TensorSource: safetensors and torch .bin files seen through one interface agree with their concrete
// readers, the opener picks the reader by extension or leading bytes, and CheckpointTensors built on it
// sees the same tensors whatever the layout.
#include "devops_model/formats/tensor_source.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/checkpoint.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/formats/torch_bin.h"
#include "test_util.h"

namespace dm {
namespace {

namespace fs = std::filesystem;

const std::string kSt = "tiny-qwen1/model.safetensors";
const std::string kBin1 = "tiny-qwen1-bin/pytorch_model-00001-of-00002.bin";
const std::string kBin2 = "tiny-qwen1-bin/pytorch_model-00002-of-00002.bin";

bool same_tensor(const TensorView& a, const TensorView& b) {
  return a.dtype == b.dtype && a.shape == b.shape && std::memcmp(a.data, b.data, a.nbytes()) == 0;
}

// Every tensor of `src` (through the interface) equals the concrete reader's, and lies in src's mapping.
template <typename Reader>
void expect_agrees(const TensorSource& src, const Reader& concrete) {
  ASSERT_FALSE(concrete.names().empty());
  EXPECT_EQ(src.names(), concrete.names());
  const MappedFile* m = src.mapping();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(src.total_bytes(), fs::file_size(src.path()));
  for (const auto& n : concrete.names()) {
    ASSERT_TRUE(src.has(n)) << n;
    TensorView a = src.get(n), b = concrete.get(n);
    EXPECT_EQ(a.dtype, b.dtype) << n;
    EXPECT_EQ(a.shape, b.shape) << n;
    ASSERT_GT(a.nbytes(), 0u) << n;
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0) << n;
    EXPECT_TRUE(m->contains(a.data, a.nbytes())) << n;
  }
  EXPECT_FALSE(src.has("no.such.tensor"));
}

TEST(TensorSource, SafetensorsThroughTheInterface) {
  std::string p = test::fixture(kSt);
  std::shared_ptr<TensorSource> src = open_tensor_source(p);
  ASSERT_NE(dynamic_cast<const SafetensorsFile*>(src.get()), nullptr);
  EXPECT_EQ(src->path(), p);
  expect_agrees(*src, *SafetensorsFile::open(p));
  try {
    src->get("no.such.tensor");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(TensorSource, TorchBinThroughTheInterface) {
  std::string p = test::fixture(kBin1);
  std::shared_ptr<TensorSource> src = open_tensor_source(p);
  ASSERT_NE(dynamic_cast<const TorchBinFile*>(src.get()), nullptr);
  EXPECT_EQ(src->path(), p);
  expect_agrees(*src, *TorchBinFile::open(p));
  // The same weights as the safetensors copy of the model.
  auto st = open_tensor_source(test::fixture(kSt));
  for (const auto& n : src->names()) EXPECT_TRUE(same_tensor(src->get(n), st->get(n))) << n;
}

TEST(TensorSource, DropPagesOnlyInsideItsOwnMapping) {
  auto st = open_tensor_source(test::fixture(kSt));
  auto bin = open_tensor_source(test::fixture(kBin1));
  std::string name = bin->names().front();
  TensorView in_st = st->get(name), in_bin = bin->get(name);
  EXPECT_FALSE(st->drop_pages(in_bin));
  EXPECT_FALSE(bin->drop_pages(in_st));
  Tensor owned = Tensor::from_view(in_st);
  EXPECT_FALSE(st->drop_pages(owned.view()));
  EXPECT_FALSE(st->drop_pages(TensorView{}));
  // Its own views: pages handed back, contents still read back from the file.
  EXPECT_TRUE(st->drop_pages(in_st));
  EXPECT_TRUE(bin->drop_pages(in_bin));
  EXPECT_TRUE(same_tensor(in_st, owned.view()));
  EXPECT_TRUE(same_tensor(in_bin, owned.view()));
}

TEST(TensorSource, RecognisedByLeadingBytesWithoutExtension) {
  std::string d = test::temp_dir("tensor_source");
  fs::copy_file(test::fixture(kSt), d + "/weights.dat");
  fs::copy_file(test::fixture(kBin1), d + "/shard.data");
  EXPECT_NE(dynamic_cast<const SafetensorsFile*>(open_tensor_source(d + "/weights.dat").get()), nullptr);
  EXPECT_NE(dynamic_cast<const TorchBinFile*>(open_tensor_source(d + "/shard.data").get()), nullptr);
  write_file_atomic(d + "/notes.txt", "not tensors at all");
  try {
    open_tensor_source(d + "/notes.txt");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find("notes.txt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(".safetensors, .bin"), std::string::npos) << e.what();
  }
  try {
    open_tensor_source(d + "/absent.dat");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
  fs::remove_all(d);
}

TEST(CheckpointTensors, ShardedBinAndSingleSafetensorsAgree) {
  auto bin = CheckpointTensors::open_dir(test::fixture("tiny-qwen1-bin"));
  auto st = CheckpointTensors::open_dir(test::fixture("tiny-qwen1"));
  ASSERT_EQ(bin.sources().size(), 2u);
  ASSERT_EQ(st.sources().size(), 1u);
  EXPECT_EQ(bin.names(), st.names());
  for (const auto& n : st.names()) EXPECT_TRUE(same_tensor(bin.get(n), st.get(n))) << n;
  EXPECT_EQ(bin.total_bytes(), fs::file_size(test::fixture(kBin1)) + fs::file_size(test::fixture(kBin2)));
  EXPECT_EQ(st.total_bytes(), fs::file_size(test::fixture(kSt)));
  // Each tensor is reported in (and viewed from) the shard the index names.
  auto shard1 = TorchBinFile::open(test::fixture(kBin1));
  for (const auto& n : bin.names()) {
    bool first = shard1->has(n);
    EXPECT_EQ(bin.file_of(n), test::fixture(first ? kBin1 : kBin2)) << n;
    EXPECT_TRUE(bin.sources()[first ? 0 : 1]->mapping()->contains(bin.get(n).data, bin.get(n).nbytes())) << n;
  }
  // drop_pages: a view from the other checkpoint is left alone, its own ones go back (and read back).
  std::string n = st.names().front();
  Tensor copy = Tensor::from_view(st.get(n));
  EXPECT_FALSE(st.drop_pages(bin.get(n)));
  EXPECT_FALSE(st.drop_pages(copy.view()));
  EXPECT_TRUE(bin.drop_pages(bin.get(n)));
  EXPECT_TRUE(same_tensor(bin.get(n), copy.view()));
}

TEST(CheckpointTensors, OpenFileAndMessages) {
  std::string p = test::fixture(kSt);
  auto c = CheckpointTensors::open_file(p);
  EXPECT_EQ(c.names(), SafetensorsFile::open(p)->names());
  EXPECT_EQ(c.file_of(c.names().front()), p);
  try {
    c.get("no.such.tensor");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find("missing tensor \"no.such.tensor\""), std::string::npos) << e.what();
  }
  std::string d = test::temp_dir("empty_ckpt");
  try {
    CheckpointTensors::open_dir(d);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("no weights found (expected model.safetensors, model.safetensors.index.json, "
                                         "pytorch_model.bin or pytorch_model.bin.index.json)"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(d);
}

}  // namespace
}  // namespace dm
