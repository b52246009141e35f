#include "devops_model/core/content_fingerprint.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/core/hash.h"

namespace dm {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kWholeBelow = 16ull << 20;  // files up to this size are hashed whole
constexpr uint64_t kEdge = 1ull << 20;         // first and last bytes hashed of a larger file
constexpr uint64_t kSample = 64ull << 10;      // bytes per sample in between
constexpr int kSamples = 62;

uint64_t hash_range(std::ifstream& in, const fs::path& p, uint64_t offset, uint64_t n, uint64_t h) {
  std::vector<char> buf(static_cast<size_t>(std::min<uint64_t>(n, 4ull << 20)));
  in.seekg(static_cast<std::streamoff>(offset));
  while (n > 0) {
    const auto want = static_cast<std::streamsize>(std::min<uint64_t>(n, buf.size()));
    if (!in.read(buf.data(), want)) fail(ErrorKind::kIo, p.string(), ": read failed while fingerprinting");
    h = hash64(buf.data(), static_cast<size_t>(want), h);
    n -= static_cast<uint64_t>(want);
  }
  return h;
}

uint64_t file_hash(const fs::path& p, uint64_t size, uint64_t h) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, p.string(), ": cannot open to fingerprint");
  if (size <= kWholeBelow) return hash_range(in, p, 0, size, h);
  h = hash_range(in, p, 0, kEdge, h);
  h = hash_range(in, p, size - kEdge, kEdge, h);
  const uint64_t span = size - 2 * kEdge - kSample;
  for (int i = 0; i < kSamples; ++i)
    h = hash_range(in, p, kEdge + span * static_cast<uint64_t>(i) / (kSamples - 1), kSample, h);
  return h;
}

}  // namespace

std::string content_fingerprint(const std::string& path) {
  std::error_code ec;
  const fs::path root(path);
  std::vector<std::pair<std::string, fs::path>> files;  // relative name, full path
  if (fs::is_directory(root, ec)) {
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec)) files.emplace_back(fs::relative(it->path(), root, ec).generic_string(), it->path());
    }
    if (ec) fail(ErrorKind::kIo, path, ": cannot list to fingerprint: ", ec.message());
    std::sort(files.begin(), files.end());
  } else if (fs::is_regular_file(root, ec)) {
    files.emplace_back(root.filename().string(), root);
  } else {
    fail(ErrorKind::kIo, path, ": no such file or directory to fingerprint");
  }
  uint64_t h = 0;
  for (const auto& [name, full] : files) {
    const uint64_t size = fs::file_size(full, ec);
    if (ec) fail(ErrorKind::kIo, full.string(), ": ", ec.message());
    h = hash64(name, h);
    h = hash64(&size, sizeof size, h);
    h = file_hash(full, size, h);
  }
  return hex64(h);
}

}  // namespace dm
