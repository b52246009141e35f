#include "devops_model/formats/checkpoint.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_file.h"
#include "devops_model/core/error.h"

namespace dm {

namespace fs = std::filesystem;

namespace {

// "model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json"
std::string expected_files() {
  std::vector<std::string> names;
  for (const TensorFormat& f : tensor_formats()) {
    for (const char* name : {f.single_file, f.index_file})
      if (name) names.push_back(name);
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

}  // namespace

size_t CheckpointTensors::add_source(std::shared_ptr<TensorSource> s) {
  sources_.push_back(std::move(s));
  return sources_.size() - 1;
}

void CheckpointTensors::add_all_tensors(size_t idx) {
  for (const auto& n : sources_[idx]->names()) where_.emplace(n, idx);
}

void CheckpointTensors::add_index(const std::string& index_path, const char* index_name) {
  nlohmann::json j = read_json_file(index_path);
  if (!j.contains("weight_map") || !j["weight_map"].is_object())
    fail(ErrorKind::kFormat, index_path, ": no \"weight_map\" object");
  std::map<std::string, size_t> shard_idx;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string()) fail(ErrorKind::kFormat, index_path, ": weight_map[\"", it.key(), "\"] is not a string");
    std::string file = it->get<std::string>();
    if (file.find('/') != std::string::npos || file == "..")
      fail(ErrorKind::kFormat, index_path, ": shard name \"", file, "\" must be a plain file name");
    if (!shard_idx.count(file)) {
      std::string path = (fs::path(dir_) / file).string();
      if (!fs::exists(path)) fail(ErrorKind::kIo, path, ": shard listed in the index is missing");
      shard_idx[file] = add_source(open_tensor_source(path));
    }
    size_t idx = shard_idx[file];
    const TensorSource& s = *sources_[idx];
    if (!s.has(it.key()))
      fail(ErrorKind::kFormat, s.path(), ": missing tensor \"", it.key(), "\" (listed in ", index_name, ")");
    where_[it.key()] = idx;
  }
}

CheckpointTensors CheckpointTensors::open_dir(const std::string& dir) {
  CheckpointTensors c;
  c.dir_ = dir;
  // Shard indexes first, then single files: the order of the table within each.
  for (const TensorFormat& f : tensor_formats()) {
    if (!f.index_file) continue;
    fs::path ip = fs::path(dir) / f.index_file;
    if (!fs::exists(ip)) continue;
    c.add_index(ip.string(), f.index_file);
    return c;
  }
  for (const TensorFormat& f : tensor_formats()) {
    if (!f.single_file) continue;
    fs::path p = fs::path(dir) / f.single_file;
    if (fs::exists(p)) {
      c.add_all_tensors(c.add_source(open_tensor_source(p.string())));
      return c;
    }
  }
  if (!fs::is_directory(dir)) fail(ErrorKind::kIo, dir, ": not a directory");
  fail(ErrorKind::kIo, dir, ": no weights found (expected ", expected_files(), ")");
}

CheckpointTensors CheckpointTensors::open_file(const std::string& path) {
  CheckpointTensors c;
  c.dir_ = path;
  c.add_all_tensors(c.add_source(open_tensor_source(path)));
  return c;
}

TensorView CheckpointTensors::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(ErrorKind::kFormat, dir_, ": missing tensor \"", name, "\"");
  return sources_[it->second]->get(name);
}

std::vector<std::string> CheckpointTensors::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : where_) out.push_back(k);
  return out;
}

std::string CheckpointTensors::file_of(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? dir_ : sources_[it->second]->path();
}

uint64_t CheckpointTensors::total_bytes() const {
  uint64_t n = 0;
  for (const auto& s : sources_) n += s->total_bytes();
  return n;
}

bool CheckpointTensors::drop_pages(const TensorView& v) const {
  for (const auto& s : sources_)
    if (s->drop_pages(v)) return true;
  return false;
}

}  // namespace dm
