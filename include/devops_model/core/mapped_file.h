// Read-only memory map of a whole file (RAII). Weights are viewed in place, never copied; or, with
// set_file_backing(kRead) (the CLI's --no-mmap), read once into anonymous memory that the kernel may back
// with transparent huge pages: a multi-GB model mapped with 4 KiB file pages spends its decode in TLB misses
// (Qwen-7B shape, Q4_K_M, 2 Zen 5 cores: llama.cpp's own decode halves with --mmap 1).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dm {

enum class FileBacking { kMap, kRead };
// How MappedFile::open backs the files it opens from now on (process-wide; set before loading a model).
void set_file_backing(FileBacking backing);
FileBacking file_backing();

class MappedFile {
 public:
  // Throws Error(kIo) naming the path if it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool contains(const void* p, size_t n) const {
    const auto* b = static_cast<const uint8_t*>(p);
    return b >= data_ && n <= size_ && b - data_ <= static_cast<std::ptrdiff_t>(size_ - n);
  }
  bool in_memory() const { return capacity_ > 0; }  // read into anonymous memory rather than mapped
  // Gives the whole pages inside [p, p + n) back to the kernel (they stay in the page cache and fault
  // back in from the file if read again): for weights copied elsewhere, e.g. quantized at load. A file
  // read into memory keeps its pages (dropping them would lose the bytes).
  void drop_pages(const void* p, size_t n) const;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;  // bytes of the anonymous mapping when in_memory()
  std::string path_;
};

// Reads a whole (small) file into a string; Error(kIo) naming the path on failure.
std::string read_file(const std::string& path);

// create_directories with an Error(kIo) naming the path and the reason (a path under a file, no
// permission) instead of std::filesystem_error.
void make_directories(const std::string& path);

// Writes atomically: a temp file beside `path`, fsync, then rename over it.
void write_file_atomic(const std::string& path, const std::string& contents);

// Streaming form of write_file_atomic for large outputs: nothing appears at `path` until commit();
// destroying an uncommitted writer removes the temp file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void write(const void* data, size_t n);
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};

}  // namespace dm
