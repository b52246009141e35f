#include "devops_model/formats/zip_archive.h"

#include <cstring>

#include "devops_model/core/error.h"

namespace dm {

namespace {

constexpr uint32_t kEocdSig = 0x06054b50, kCdSig = 0x02014b50, kLocalSig = 0x04034b50;
constexpr uint32_t kZip64LocSig = 0x07064b50, kZip64EocdSig = 0x06064b50;

// Bounds-checked little-endian reads over [base, base+size).
struct Reader {
  const uint8_t* base;
  size_t size;
  const std::string& path;
  template <typename T>
  T at(uint64_t off) const {
    if (off > size || sizeof(T) > size - off)
      fail(ErrorKind::kFormat, path, ": zip structure points outside the file (offset ", off, ")");
    T v;
    std::memcpy(&v, base + off, sizeof(T));
    return v;
  }
};

// Applies a ZIP64 extended-information extra field to the fields that overflowed.
void apply_zip64_extra(const Reader& r, uint64_t extra, uint16_t extra_len, uint64_t* usize, uint64_t* csize,
                       uint64_t* offset) {
  uint64_t p = extra, end = extra + extra_len;
  while (p + 4 <= end) {
    uint16_t id = r.at<uint16_t>(p), len = r.at<uint16_t>(p + 2);
    if (id == 0x0001) {
      uint64_t q = p + 4, qend = p + 4 + len;
      for (uint64_t* f : {usize, csize, offset}) {
        if (*f == 0xffffffffu) {
          if (q + 8 > qend) fail(ErrorKind::kFormat, r.path, ": truncated ZIP64 extra field");
          *f = r.at<uint64_t>(q);
          q += 8;
        }
      }
      return;
    }
    p += 4 + len;
  }
}

}  // namespace

ZipArchive ZipArchive::open(const std::string& path) {
  auto file = MappedFile::open(path);
  ZipArchive z = parse(file->data(), file->size(), path);
  z.file_ = file;
  return z;
}

ZipArchive ZipArchive::parse(const uint8_t* data, size_t size, const std::string& path) {
  ZipArchive z;
  z.path_ = path;
  Reader r{data, size, path};
  if (size < 22) fail(ErrorKind::kFormat, path, ": not a zip archive (too short)");
  // The end-of-central-directory record sits within the last 64 KiB + 22 bytes.
  uint64_t eocd = UINT64_MAX;
  uint64_t lo = size > 65557 ? size - 65557 : 0;
  for (uint64_t p = size - 22 + 1; p-- > lo;) {
    if (r.at<uint32_t>(p) == kEocdSig) {
      eocd = p;
      break;
    }
  }
  if (eocd == UINT64_MAX) fail(ErrorKind::kFormat, path, ": not a zip archive (no end of central directory)");
  uint64_t count = r.at<uint16_t>(eocd + 10);
  uint64_t cd_off = r.at<uint32_t>(eocd + 16);
  if ((count == 0xffff || cd_off == 0xffffffffu) && eocd >= 20 && r.at<uint32_t>(eocd - 20) == kZip64LocSig) {
    uint64_t z64 = r.at<uint64_t>(eocd - 20 + 8);
    if (r.at<uint32_t>(z64) != kZip64EocdSig) fail(ErrorKind::kFormat, path, ": bad ZIP64 end record");
    count = r.at<uint64_t>(z64 + 32);
    cd_off = r.at<uint64_t>(z64 + 48);
  }
  uint64_t p = cd_off;
  for (uint64_t i = 0; i < count; ++i) {
    if (r.at<uint32_t>(p) != kCdSig) fail(ErrorKind::kFormat, path, ": bad central directory entry ", i);
    uint16_t method = r.at<uint16_t>(p + 10);
    uint64_t csize = r.at<uint32_t>(p + 20), usize = r.at<uint32_t>(p + 24);
    uint16_t nlen = r.at<uint16_t>(p + 28), xlen = r.at<uint16_t>(p + 30), clen = r.at<uint16_t>(p + 32);
    uint64_t local = r.at<uint32_t>(p + 42);
    if (p + 46 + nlen > size) fail(ErrorKind::kFormat, path, ": entry name outside the file");
    std::string name(reinterpret_cast<const char*>(data + p + 46), nlen);
    apply_zip64_extra(r, p + 46 + nlen, xlen, &usize, &csize, &local);
    if (method != 0)
      fail(ErrorKind::kUnsupported, path, ": entry \"", name, "\" is compressed (method ", method,
           "); torch.save archives store entries uncompressed");
    if (r.at<uint32_t>(local) != kLocalSig) fail(ErrorKind::kFormat, path, ": bad local header for \"", name, "\"");
    uint64_t start = local + 30 + r.at<uint16_t>(local + 26) + r.at<uint16_t>(local + 28);
    if (start > size || csize > size - start)
      fail(ErrorKind::kFormat, path, ": entry \"", name, "\" extends past the end of the file (truncated?)");
    z.entries_[name] = ZipEntry{data + start, csize};
    p += 46 + nlen + xlen + clen;
  }
  return z;
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace dm
