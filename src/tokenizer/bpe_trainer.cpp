// Byte-level BPE training and extension (see bpe_trainer.h).
#include "devops_model/tokenizer/bpe_trainer.h"
#include "core/json_file.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <unordered_set>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/progress.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/tokenizer/unicode.h"
#include "pretokenizer.h"
#include "tokenizer_impl.h"

namespace fs = std::filesystem;

namespace dm {

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t pair_left(uint64_t k) { return static_cast<int32_t>(k >> 32); }
int32_t pair_right(uint64_t k) { return static_cast<int32_t>(k & 0xffffffffu); }

struct HeapEntry {
  int64_t count;
  uint64_t pair;
};
// Max-heap order: more frequent first; on ties the smaller (left, right) pair first.
struct HeapLess {
  bool operator()(const HeapEntry& x, const HeapEntry& y) const {
    return x.count != y.count ? x.count < y.count : x.pair > y.pair;
  }
};

Pretokenizer& pre_of(void* p) { return *static_cast<Pretokenizer*>(p); }

}  // namespace

PieceCounter::PieceCounter() : pre_(new Pretokenizer(kQwenSplitRegex)) {}
PieceCounter::~PieceCounter() { delete static_cast<Pretokenizer*>(pre_); }

void PieceCounter::add_text(std::string_view text) {
  bytes_ += static_cast<int64_t>(text.size());
  const std::string norm = nfc_normalize(text);
  pre_of(pre_).split(norm, [&](std::string_view piece) { ++counts_[std::string(piece)]; });
}

std::vector<std::pair<int32_t, int32_t>> learn_merges(std::vector<BpeWord>& words, int32_t next_id, int64_t n_merges,
                                                      int64_t min_frequency, bool progress) {
  std::unordered_map<uint64_t, int64_t> count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words that had it (may be stale)
  for (size_t w = 0; w < words.size(); ++w) {
    const auto& ids = words[w].ids;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const uint64_t k = pair_key(ids[i], ids[i + 1]);
      count[k] += words[w].count;
      auto& list = where[k];
      if (list.empty() || list.back() != static_cast<int32_t>(w)) list.push_back(static_cast<int32_t>(w));
    }
  }
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, HeapLess> heap;
  for (const auto& [k, c] : count) heap.push({c, k});
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<int64_t> stamp(words.size(), -1);
  std::optional<Progress> bar;
  if (progress) bar.emplace("bpe merges", n_merges, "merges");
  std::vector<int32_t> rewritten;
  while (static_cast<int64_t>(merges.size()) < n_merges && !heap.empty()) {
    const HeapEntry top = heap.top();
    heap.pop();
    auto it = count.find(top.pair);
    const int64_t cur = it == count.end() ? 0 : it->second;
    if (cur != top.count) {  // stale entry: the pair lost occurrences to an earlier merge
      if (cur > 0) heap.push({cur, top.pair});
      continue;
    }
    if (cur < min_frequency || cur <= 0) break;
    const int32_t a = pair_left(top.pair), b = pair_right(top.pair);
    const int32_t id = next_id + static_cast<int32_t>(merges.size());
    const int64_t step = static_cast<int64_t>(merges.size());
    merges.emplace_back(a, b);
    std::vector<int32_t> ws = std::move(where[top.pair]);
    where.erase(top.pair);
    std::unordered_set<uint64_t> fresh;  // pairs with the new token
    for (int32_t w : ws) {
      if (stamp[static_cast<size_t>(w)] == step) continue;
      stamp[static_cast<size_t>(w)] = step;
      BpeWord& word = words[static_cast<size_t>(w)];
      auto& ids = word.ids;
      rewritten.clear();
      bool hit = false;
      for (size_t i = 0; i < ids.size();) {
        if (i + 1 < ids.size() && ids[i] == a && ids[i + 1] == b) {
          rewritten.push_back(id);
          i += 2;
          hit = true;
        } else {
          rewritten.push_back(ids[i++]);
        }
      }
      if (!hit) continue;
      // Subtract the old word's pairs, add the new word's: only pairs around the merge change.
      for (size_t i = 0; i + 1 < ids.size(); ++i) count[pair_key(ids[i], ids[i + 1])] -= word.count;
      for (size_t i = 0; i + 1 < rewritten.size(); ++i) {
        const uint64_t k = pair_key(rewritten[i], rewritten[i + 1]);
        count[k] += word.count;
        if (rewritten[i] == id || rewritten[i + 1] == id) {
          auto& list = where[k];
          if (list.empty() || list.back() != w) list.push_back(w);
          fresh.insert(k);
        }
      }
      ids.swap(rewritten);
    }
    count.erase(top.pair);
    // The push order does not matter for a heap keyed by (count, pair).
    for (uint64_t k : fresh) heap.push({count[k], k});
    if (bar) bar->add(1);
  }
  if (bar) bar->finish();
  return merges;
}

BpeVocab train_bpe(const PieceCounter& pieces, const BpeTrainOptions& opt) {
  if (opt.vocab_size < 256) fail(ErrorKind::kInvalidArgument, "vocab size ", opt.vocab_size, " < 256 byte tokens");
  // Words in sorted order so the result does not depend on hash-map iteration order.
  std::vector<std::pair<std::string, int64_t>> sorted(pieces.counts().begin(), pieces.counts().end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<BpeWord> words;
  words.reserve(sorted.size());
  for (const auto& [piece, c] : sorted) {
    BpeWord w;
    w.count = c;
    for (unsigned char ch : piece) w.ids.push_back(ch);
    words.push_back(std::move(w));
  }
  BpeVocab v;
  for (int b = 0; b < 256; ++b) v.tokens.emplace_back(1, static_cast<char>(b));
  v.merges = learn_merges(words, 256, opt.vocab_size - 256, opt.min_frequency, opt.progress);
  for (const auto& [a, b] : v.merges)
    v.tokens.push_back(v.tokens[static_cast<size_t>(a)] + v.tokens[static_cast<size_t>(b)]);
  v.special_tokens = opt.special_tokens;
  return v;
}

namespace {

nlohmann::ordered_json added_token_json(const std::string& text, int32_t id) {
  return {{"id", id},        {"content", text},     {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

nlohmann::ordered_json byte_level_json() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
}

std::string config_json(const std::vector<std::string>& specials) {
  nlohmann::json c = {
      {"model_max_length", 32768}, {"tokenizer_class", "Qwen2Tokenizer"}, {"clean_up_tokenization_spaces", false}};
  auto has = [&](const char* s) { return std::find(specials.begin(), specials.end(), s) != specials.end(); };
  if (has("<|im_end|>")) c["eos_token"] = "<|im_end|>";
  if (has("<|endoftext|>")) c["pad_token"] = "<|endoftext|>";
  return c.dump(2) + "\n";
}

}  // namespace

std::string bpe_tokenizer_json(const BpeVocab& v) {
  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (size_t i = 0; i < v.special_tokens.size(); ++i)
    added.push_back(added_token_json(v.special_tokens[i], static_cast<int32_t>(v.tokens.size() + i)));
  j["added_tokens"] = added;
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"Regex", std::string(kQwenSplitRegex)}}},
                           {"behavior", "Isolated"},
                           {"invert", false}},
                          byte_level_json()}}};
  j["post_processor"] = nullptr;
  j["decoder"] = byte_level_json();
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t id = 0; id < v.tokens.size(); ++id) vocab[byte_level_encode(v.tokens[id])] = id;
  nlohmann::ordered_json merges = nlohmann::ordered_json::array();
  for (const auto& [a, b] : v.merges)
    merges.push_back(byte_level_encode(v.tokens[static_cast<size_t>(a)]) + " " +
                     byte_level_encode(v.tokens[static_cast<size_t>(b)]));
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", vocab},
                {"merges", merges}};
  return j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::strict) + "\n";
}

void write_bpe_tokenizer(const BpeVocab& v, const std::string& dir) {
  make_directories(dir);
  write_file_atomic(dir + "/tokenizer.json", bpe_tokenizer_json(v));
  write_file_atomic(dir + "/tokenizer_config.json", config_json(v.special_tokens));
}

BpeExtendResult extend_bpe_tokenizer(const std::string& base_dir, const PieceCounter& pieces, int32_t add,
                                     int32_t min_first_id, int64_t min_frequency, const std::string& out_dir) {
  const std::string path = base_dir + "/tokenizer.json";
  if (!fs::exists(path))
    fail(ErrorKind::kUnsupported, base_dir, ": extend needs a tokenizer.json (Qwen2/3 or one from `tokenizer train`)");
  auto tok = Tokenizer::from_file(path);
  nlohmann::ordered_json j = read_ordered_json_file(path);
  auto& model = j["model"];
  if (!model.is_object() || !model["vocab"].is_object() || !model["merges"].is_array())
    fail(ErrorKind::kFormat, path, ": model.vocab / model.merges missing");
  // Words as the base tokenizer encodes them (pieces are already split; no specials in them).
  std::vector<std::pair<std::string, int64_t>> sorted(pieces.counts().begin(), pieces.counts().end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<BpeWord> words;
  for (const auto& [piece, c] : sorted) words.push_back({tok->encode(piece, false), c});
  BpeExtendResult r;
  r.first_new_id = std::max(tok->vocab_size(), min_first_id);
  const auto merges = learn_merges(words, r.first_new_id, add, min_frequency, true);
  const bool array_merges = !model["merges"].empty() && model["merges"][0].is_array();
  std::unordered_map<int32_t, std::string> fresh;  // new id -> bytes
  auto bytes_of = [&](int32_t id) { return id >= r.first_new_id ? fresh.at(id) : tok->token_bytes(id); };
  for (size_t k = 0; k < merges.size(); ++k) {
    const int32_t id = r.first_new_id + static_cast<int32_t>(k);
    const std::string la = byte_level_encode(bytes_of(merges[k].first));
    const std::string lb = byte_level_encode(bytes_of(merges[k].second));
    fresh[id] = bytes_of(merges[k].first) + bytes_of(merges[k].second);
    const std::string name = byte_level_encode(fresh[id]);
    if (tok->token_id(fresh[id])) fail(ErrorKind::kFormat, path, ": learned token '", name, "' already in vocab");
    model["vocab"][name] = id;
    if (array_merges) model["merges"].push_back({la, lb});
    else model["merges"].push_back(la + " " + lb);
    r.new_tokens.push_back(fresh[id]);
  }
  r.added = static_cast<int32_t>(merges.size());
  r.vocab_size = r.first_new_id + r.added;
  if (r.added == 0) r.vocab_size = tok->vocab_size();
  make_directories(out_dir);
  write_file_atomic(out_dir + "/tokenizer.json",
                    j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::strict) + "\n");
  for (const char* f : {"tokenizer_config.json", "special_tokens_map.json"})
    if (fs::exists(base_dir + "/" + f) && fs::absolute(base_dir) != fs::absolute(out_dir))
      fs::copy_file(base_dir + "/" + f, out_dir + "/" + f, fs::copy_options::overwrite_existing);
  return r;
}

}  // namespace dm
