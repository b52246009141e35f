#include "core/json_file.h"
#include "devops_model/formats/checkpoint.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/formats/torch_bin.h"

namespace dm {

namespace fs = std::filesystem;

TensorView CheckpointTensors::Source::get(const std::string& name) const {
  return st ? st->get(name) : bin->get(name);
}

CheckpointTensors CheckpointTensors::open_dir(const std::string& dir) {
  CheckpointTensors c;
  c.dir_ = dir;
  auto add_file = [&](const std::string& file) {
    Source s;
    s.path = (fs::path(dir) / file).string();
    if (!fs::exists(s.path)) fail(ErrorKind::kIo, s.path, ": shard listed in the index is missing");
    bool is_bin = file.size() > 4 && file.compare(file.size() - 4, 4, ".bin") == 0;
    if (is_bin) {
      s.bin = TorchBinFile::open(s.path);
    } else {
      s.st = SafetensorsFile::open(s.path);
    }
    c.sources_.push_back(s);
    return c.sources_.size() - 1;
  };
  auto add_all = [&](size_t idx) {
    const Source& s = c.sources_[idx];
    for (const auto& n : s.st ? s.st->names() : s.bin->names()) c.where_.emplace(n, idx);
  };
  for (const char* index : {"model.safetensors.index.json", "pytorch_model.bin.index.json"}) {
    fs::path ip = fs::path(dir) / index;
    if (!fs::exists(ip)) continue;
    nlohmann::json j = read_json_file(ip.string());
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      fail(ErrorKind::kFormat, ip.string(), ": no \"weight_map\" object");
    std::map<std::string, size_t> shard_idx;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it->is_string()) fail(ErrorKind::kFormat, ip.string(), ": weight_map[\"", it.key(), "\"] is not a string");
      std::string file = it->get<std::string>();
      if (file.find('/') != std::string::npos || file == "..")
        fail(ErrorKind::kFormat, ip.string(), ": shard name \"", file, "\" must be a plain file name");
      if (!shard_idx.count(file)) shard_idx[file] = add_file(file);
      size_t idx = shard_idx[file];
      const Source& s = c.sources_[idx];
      if (!(s.st ? s.st->has(it.key()) : s.bin->has(it.key())))
        fail(ErrorKind::kFormat, s.path, ": missing tensor \"", it.key(), "\" (listed in ", index, ")");
      c.where_[it.key()] = idx;
    }
    return c;
  }
  for (const char* single : {"model.safetensors", "pytorch_model.bin"}) {
    if (fs::exists(fs::path(dir) / single)) {
      add_all(add_file(single));
      return c;
    }
  }
  if (!fs::is_directory(dir)) fail(ErrorKind::kIo, dir, ": not a directory");
  fail(ErrorKind::kIo, dir,
       ": no weights found (expected model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
       "pytorch_model.bin.index.json)");
}

TensorView CheckpointTensors::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(ErrorKind::kFormat, dir_, ": missing tensor \"", name, "\"");
  return sources_[it->second].get(name);
}

std::vector<std::string> CheckpointTensors::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : where_) out.push_back(k);
  return out;
}

std::string CheckpointTensors::file_of(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? dir_ : sources_[it->second].path;
}

uint64_t CheckpointTensors::total_bytes() const {
  uint64_t n = 0;
  for (const auto& s : sources_) n += fs::file_size(s.path);
  return n;
}

void CheckpointTensors::drop_pages(const TensorView& v) const {
  for (const Source& s : sources_) {
    const MappedFile* m = s.st ? s.st->mapping() : s.bin ? s.bin->mapping() : nullptr;
    if (m && m->contains(v.data, v.nbytes())) return m->drop_pages(v.data, v.nbytes());
  }
}

}  // namespace dm
