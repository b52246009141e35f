// MappedFile's two backings: mapped in place (the default) and read into anonymous memory (--no-mmap),
// which must hold the same bytes, keep them when pages are "dropped", and fail naming the path.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "test_util.h"

namespace dm {
namespace {

struct BackingGuard {  // restores the process-wide default after each test
  ~BackingGuard() { set_file_backing(FileBacking::kMap); }
};

std::string write_bytes(const std::string& path, size_t n) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((i * 131 + 7) & 0xff);
  std::ofstream(path, std::ios::binary) << bytes;
  return bytes;
}

TEST(MappedFile, ReadIntoMemoryHoldsTheSameBytesAsTheMap) {
  BackingGuard guard;
  const std::string dir = test::temp_dir("mapped_file");
  const std::string path = dir + "/w.bin";
  const std::string bytes = write_bytes(path, (size_t{3} << 20) + 12345);  // over one 2 MiB page, odd size
  auto mapped = MappedFile::open(path);
  set_file_backing(FileBacking::kRead);
  auto read = MappedFile::open(path);
  EXPECT_FALSE(mapped->in_memory());
  EXPECT_TRUE(read->in_memory());
  ASSERT_EQ(read->size(), bytes.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(read->data()), read->size()), bytes);
  // Dropping pages of a file read into memory must not lose them (they would come back as zeros).
  read->drop_pages(read->data(), read->size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(read->data()), read->size()), bytes);
}

TEST(MappedFile, ReadIntoMemoryEmptyAndMissingFiles) {
  BackingGuard guard;
  set_file_backing(FileBacking::kRead);
  const std::string dir = test::temp_dir("mapped_file_empty");
  write_bytes(dir + "/empty", 0);
  EXPECT_EQ(MappedFile::open(dir + "/empty")->size(), 0u);
  try {
    MappedFile::open(dir + "/missing");
    FAIL() << "a missing file was opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find(dir + "/missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dm
