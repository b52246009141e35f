// Test-only reader of small safetensors files (header JSON + little-endian data): F32 and I32/I64
// tensors as flat vectors. The engine's formats/safetensors.h is the real reader.
#pragma once
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "devops_model/core/mapped_file.h"

namespace dm::test {

class MiniSafetensors {
 public:
  explicit MiniSafetensors(const std::string& path) : data_(read_file(path)) {
    uint64_t n = 0;
    std::memcpy(&n, data_.data(), 8);
    header_ = nlohmann::json::parse(data_.substr(8, n));
    base_ = 8 + n;
  }
  bool has(const std::string& name) const { return header_.contains(name); }
  std::vector<float> f32(const std::string& name) const { return read<float>(name, "F32"); }
  std::vector<int32_t> ids(const std::string& name) const {
    const auto& t = header_.at(name);
    if (t.at("dtype") == "I64") {
      std::vector<int32_t> r;
      for (int64_t v : read<int64_t>(name, "I64")) r.push_back(static_cast<int32_t>(v));
      return r;
    }
    return read<int32_t>(name, "I32");
  }

 private:
  template <typename T>
  std::vector<T> read(const std::string& name, const char* dtype) const {
    const auto& t = header_.at(name);
    if (t.at("dtype") != dtype) throw std::runtime_error(name + ": unexpected dtype");
    const size_t b = t.at("data_offsets")[0].get<size_t>(), e = t.at("data_offsets")[1].get<size_t>();
    std::vector<T> v((e - b) / sizeof(T));
    std::memcpy(v.data(), data_.data() + base_ + b, e - b);
    return v;
  }
  std::string data_;
  nlohmann::json header_;
  size_t base_ = 0;
};

}  // namespace dm::test
