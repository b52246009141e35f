// Minimal ZIP reader for torch.save archives: central directory (with ZIP64), stored entries only,
// zero-copy access to each entry's bytes inside a memory map.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "devops_model/core/mapped_file.h"

namespace dm {

struct ZipEntry {
  const uint8_t* data = nullptr;  // inside the mapping
  uint64_t size = 0;
};

class ZipArchive {
 public:
  // Error(kFormat) naming the file for anything malformed or compressed.
  static ZipArchive open(const std::string& path);
  static ZipArchive parse(const uint8_t* data, size_t size, const std::string& path);

  const std::map<std::string, ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;
  const std::string& path() const { return path_; }
  const std::shared_ptr<MappedFile>& file() const { return file_; }

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, ZipEntry> entries_;
};

}  // namespace dm
