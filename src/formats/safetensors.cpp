#include "devops_model/formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"

namespace dm {

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // as the reference reader

struct Span {
  uint64_t begin, end;
  std::string name;
};

int64_t checked_numel(const Shape& shape, const std::string& where) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(ErrorKind::kFormat, where, ": negative dimension");
    if (d != 0 && n > (int64_t{1} << 50) / d) fail(ErrorKind::kFormat, where, ": shape too large");
    n *= d;
  }
  return n;
}

TensorView parse_entry(const nlohmann::json& v, const std::string& where, const uint8_t* data, uint64_t data_size,
                       Span* span) {
  if (!v.is_object()) fail(ErrorKind::kFormat, where, ": entry is not an object");
  auto dt = v.find("dtype");
  auto sh = v.find("shape");
  auto off = v.find("data_offsets");
  if (dt == v.end() || !dt->is_string()) fail(ErrorKind::kFormat, where, ": missing or non-string \"dtype\"");
  if (sh == v.end() || !sh->is_array()) fail(ErrorKind::kFormat, where, ": missing or non-array \"shape\"");
  if (off == v.end() || !off->is_array() || off->size() != 2)
    fail(ErrorKind::kFormat, where, ": \"data_offsets\" must be [begin, end]");
  TensorView t;
  if (!parse_dtype(dt->get<std::string>(), &t.dtype))
    fail(ErrorKind::kFormat, where, ": unknown dtype \"", dt->get<std::string>(), "\"");
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) fail(ErrorKind::kFormat, where, ": shape entries must be non-negative integers");
    t.shape.push_back(d.get<int64_t>());
  }
  for (const auto& o : *off) {
    if (!o.is_number_unsigned()) fail(ErrorKind::kFormat, where, ": data_offsets must be non-negative integers");
  }
  uint64_t b = (*off)[0].get<uint64_t>(), e = (*off)[1].get<uint64_t>();
  if (e < b) fail(ErrorKind::kFormat, where, ": data_offsets end ", e, " < begin ", b);
  if (e > data_size)
    fail(ErrorKind::kFormat, where, ": data_offsets [", b, ", ", e, "] outside the file's data (", data_size,
         " bytes; file truncated?)");
  uint64_t want = static_cast<uint64_t>(checked_numel(t.shape, where)) * dtype_size(t.dtype);
  if (e - b != want)
    fail(ErrorKind::kFormat, where, ": shape ", shape_str(t.shape), " of ", dtype_name(t.dtype), " needs ", want,
         " bytes but data_offsets span ", e - b);
  t.data = data + b;
  *span = {b, e, ""};
  return t;
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto file = MappedFile::open(path);
  return parse(file, file->data(), file->size(), path);
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::parse(std::shared_ptr<MappedFile> file, const uint8_t* data,
                                                        size_t size, const std::string& path) {
  auto st = std::make_shared<SafetensorsFile>();
  st->path_ = path;
  st->file_ = std::move(file);
  if (size < 8) fail(ErrorKind::kFormat, path, ": file too short for a safetensors header (", size, " bytes)");
  uint64_t n = 0;
  std::memcpy(&n, data, 8);  // little-endian host
  if (n > kMaxHeader) fail(ErrorKind::kFormat, path, ": header length ", n, " exceeds the limit ", kMaxHeader);
  if (n > size - 8)
    fail(ErrorKind::kFormat, path, ": header length ", n, " beyond the end of the file (", size, " bytes)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data + 8, data + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, path, ": invalid header JSON: ", e.what());
  }
  if (!header.is_object()) fail(ErrorKind::kFormat, path, ": header is not a JSON object");
  const uint8_t* body = data + 8 + n;
  uint64_t body_size = size - 8 - n;
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(ErrorKind::kFormat, path, ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(ErrorKind::kFormat, path, ": __metadata__.", m.key(), " is not a string");
        st->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    Span span{};
    std::string where = path + ": tensor \"" + it.key() + "\"";
    st->tensors_[it.key()] = parse_entry(*it, where, body, body_size, &span);
    span.name = it.key();
    spans.push_back(span);
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end)
      fail(ErrorKind::kFormat, path, ": tensors \"", spans[i - 1].name, "\" and \"", spans[i].name,
           "\" overlap in the data buffer");
  }
  return st;
}

TensorView SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::kFormat, path_, ": missing tensor \"", name, "\"");
  return it->second;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : tensors_) out.push_back(k);
  return out;
}

SafetensorsWriter::SafetensorsWriter(const std::string& path, std::vector<Spec> specs,
                                     const std::map<std::string, std::string>& metadata)
    : specs_(std::move(specs)) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& sp : specs_) {
    uint64_t n = static_cast<uint64_t>(shape_numel(sp.shape)) * dtype_size(sp.dtype);
    nlohmann::ordered_json e;
    e["dtype"] = dtype_name(sp.dtype);
    e["shape"] = sp.shape;
    e["data_offsets"] = {offset, offset + n};
    header[sp.name] = e;
    offset += n;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // keep the data 8-byte aligned
  out_ = std::make_unique<AtomicFileWriter>(path);
  uint64_t n = h.size();
  out_->write(&n, 8);
  out_->write(h.data(), h.size());
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::write_next(const void* data, size_t nbytes) {
  DM_CHECK(next_ < specs_.size(), "more tensors written than declared");
  const Spec& sp = specs_[next_++];
  DM_CHECK(nbytes == static_cast<size_t>(shape_numel(sp.shape)) * dtype_size(sp.dtype), "size of ", sp.name);
  out_->write(data, nbytes);
}

void SafetensorsWriter::commit() {
  DM_CHECK(next_ == specs_.size(), "fewer tensors written than declared");
  out_->commit();
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, TensorView>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsWriter::Spec> specs;
  for (const auto& [name, t] : tensors) specs.push_back({name, t.dtype, t.shape});
  SafetensorsWriter w(path, specs, metadata);  // streamed: a 15 GB checkpoint never sits in memory twice
  for (const auto& [name, t] : tensors) w.write_next(t.data, t.nbytes());
  w.commit();
}

}  // namespace dm
