// Reading training files: JSONL (text / SFT layouts / pre-tokenized) and plain text; pretraining packing.
#include "devops_model/train/dataset.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "train/sft_record.h"

namespace dm {

std::vector<Example> pack_pretrain(const std::vector<std::vector<int32_t>>& docs, int32_t end_id, int64_t block,
                                   bool mask_end_token) {
  if (block <= 1) fail(ErrorKind::kInvalidArgument, "block size must be > 1");
  std::vector<Example> out;
  Example cur;
  auto push = [&](int32_t id, bool trained) {
    cur.ids.push_back(id);
    cur.labels.push_back(trained ? id : -100);
    if (static_cast<int64_t>(cur.ids.size()) == block) {
      out.push_back(std::move(cur));
      cur = Example{};
    }
  };
  for (const auto& d : docs) {
    if (d.empty()) continue;  // empty texts are filtered, as the seed does
    for (int32_t id : d) push(id, true);
    if (end_id >= 0) push(end_id, !mask_end_token);
  }
  return out;  // the remainder in `cur` is dropped
}

namespace {

bool is_jsonl(const std::string& path) {
  return path.ends_with(".jsonl") || path.ends_with(".json") || path.ends_with(".ndjson");
}

std::vector<int32_t> int_array(const nlohmann::json& j, const char* key) {
  if (!j[key].is_array()) fail(ErrorKind::kFormat, "'", key, "' is not an array");
  std::vector<int32_t> v;
  for (const auto& x : j[key]) {
    if (!x.is_number_integer()) fail(ErrorKind::kFormat, "'", key, "' holds a non-integer");
    v.push_back(x.get<int32_t>());
  }
  return v;
}

}  // namespace

std::vector<Example> load_examples(const std::vector<std::string>& files, const DataOptions& opt,
                                   const EncodeFn& encode, std::vector<BadRecord>& bad) {
  const bool pt = opt.stage == "pt";
  if (!pt && opt.stage != "sft") fail(ErrorKind::kInvalidArgument, "stage must be pt or sft, got '", opt.stage, "'");
  std::vector<Example> out;
  std::vector<std::vector<int32_t>> docs;
  auto need_encoder = [&] {
    if (!encode) fail(ErrorKind::kInvalidArgument, "a tokenizer is needed for untokenized records");
  };
  for (const std::string& path : files) {
    if (!is_jsonl(path)) {
      if (!pt) fail(ErrorKind::kInvalidArgument, path, ": sft data must be JSONL");
      need_encoder();
      docs.push_back(encode(read_file(path), false));
      continue;
    }
    std::ifstream in(path);
    if (!in) fail(ErrorKind::kIo, path, ": cannot open");
    std::string line;
    for (int64_t ln = 1; std::getline(in, line); ++ln) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      try {
        const nlohmann::json j = parse_record(line);
        if (j.contains("input_ids")) {
          Example e;
          e.ids = int_array(j, "input_ids");
          e.labels = j.contains("labels") ? int_array(j, "labels") : e.ids;
          if (e.ids.empty() || e.labels.size() != e.ids.size())
            fail(ErrorKind::kFormat, "input_ids empty or labels of a different length");
          out.push_back(std::move(e));
        } else if (pt) {
          if (!j.contains("text") || !j["text"].is_string()) fail(ErrorKind::kFormat, "missing string field 'text'");
          need_encoder();
          docs.push_back(encode(j["text"].get<std::string>(), false));
        } else {
          need_encoder();
          out.push_back(chatml_example(record_turns(j), encode, opt));
        }
      } catch (const Error& e) {
        const std::string where = path + ":" + std::to_string(ln);
        if (opt.fail_on_bad_record) fail(ErrorKind::kFormat, where, ": ", e.what());
        bad.push_back({where, e.what()});
      }
    }
  }
  if (pt && !docs.empty()) {
    std::vector<Example> packed = pack_pretrain(docs, opt.end_id, opt.cutoff_len, opt.mask_end_token);
    out.insert(out.end(), packed.begin(), packed.end());
  }
  return out;
}

}  // namespace dm
