#include "devops_model/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "devops_model/core/error.h"

namespace dm {

namespace {

std::atomic<FileBacking> g_backing{FileBacking::kMap};

// Reads n bytes of fd into dst; Error(kIo) naming the path on a failure or early end.
void read_all(int fd, uint8_t* dst, size_t n, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, dst + done, std::min<size_t>(n - done, size_t{1} << 26), static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      fail(ErrorKind::kIo, path, ": read failed at byte ", done, ": ", r < 0 ? std::strerror(errno) : "early end");
    done += static_cast<size_t>(r);
  }
}

}  // namespace

void set_file_backing(FileBacking backing) { g_backing.store(backing); }
FileBacking file_backing() { return g_backing.load(); }

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::kIo, path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail(ErrorKind::kIo, path, ": cannot stat: ", std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::kIo, path, ": not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0 && g_backing.load() == FileBacking::kRead) {
    constexpr size_t kHuge = size_t{2} << 20;  // whole 2 MiB pages, so THP can back all of it
    const size_t cap = (f->size_ + kHuge - 1) / kHuge * kHuge;
    void* p = mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail(ErrorKind::kIo, path, ": cannot allocate ", cap, " bytes to read it into: ", std::strerror(e));
    }
    madvise(p, cap, MADV_HUGEPAGE);  // a hint: without THP the read still works
    f->data_ = static_cast<const uint8_t*>(p);
    f->capacity_ = cap;
    try {
      read_all(fd, static_cast<uint8_t*>(p), f->size_, path);
    } catch (...) {
      ::close(fd);
      throw;  // f's destructor unmaps
    }
    mprotect(p, cap, PROT_READ);
  } else if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail(ErrorKind::kIo, path, ": cannot mmap: ", std::strerror(e));
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(const_cast<uint8_t*>(data_), in_memory() ? capacity_ : size_);
}

void MappedFile::drop_pages(const void* p, size_t n) const {
  if (in_memory() || !contains(p, n)) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (hi > lo)
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);  // read-only private map: refaults from the file
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, path, ": cannot open: ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(ErrorKind::kIo, path, ": read error");
  return ss.str();
}

void make_directories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail(ErrorKind::kIo, path, ": cannot create directory: ", ec.message());
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  AtomicFileWriter w(path);
  w.write(contents.data(), contents.size());
  w.commit();
}

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(ErrorKind::kIo, tmp_, ": cannot create: ", std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::write(const void* data, size_t n) {
  DM_CHECK(fd_ >= 0, "write after commit");
  const char* p = static_cast<const char*>(data);
  size_t off = 0;
  while (off < n) {
    ssize_t k = ::write(fd_, p + off, n - off);
    if (k < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::kIo, tmp_, ": write failed: ", std::strerror(errno));
    }
    off += static_cast<size_t>(k);
  }
}

void AtomicFileWriter::commit() {
  DM_CHECK(fd_ >= 0, "commit twice");
  if (::fsync(fd_) != 0) fail(ErrorKind::kIo, tmp_, ": fsync failed: ", std::strerror(errno));
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    ::unlink(tmp_.c_str());
    fail(ErrorKind::kIo, tmp_, ": close failed");
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    fail(ErrorKind::kIo, path_, ": cannot rename into place: ", std::strerror(e));
  }
}

}  // namespace dm
