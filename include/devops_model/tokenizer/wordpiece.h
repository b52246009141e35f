// WordPiece tokenizer of BERT with Hugging Face BertTokenizer semantics (transformers
// models/bert/tokenization_bert.py): BasicTokenizer (clean text, CJK characters as separate words, NFC,
// lower-casing + NFD accent stripping, punctuation split) then greedy longest-match-first WordPiece with
// "##" continuation pieces; [CLS] ... [SEP] and truncation.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dm {

struct WordPieceOptions {
  bool do_lower_case = true;
  int strip_accents = -1;  // -1 = unset (strip iff do_lower_case), 0 = never, 1 = always
  bool tokenize_chinese_chars = true;
  int max_input_chars_per_word = 100;  // longer words become [UNK]
  int64_t model_max_length = 512;      // default truncation length for encode()
  std::string unk_token = "[UNK]", cls_token = "[CLS]", sep_token = "[SEP]", pad_token = "[PAD]", mask_token = "[MASK]";
};

class WordPieceTokenizer {
 public:
  // vocab.txt (one token per line, id = line index) and, if present, tokenizer_config.json
  // (do_lower_case, strip_accents, tokenize_chinese_chars, model_max_length, special tokens).
  // Error(kIo/kFormat) naming the file.
  static WordPieceTokenizer load_dir(const std::string& dir);
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions opts);

  // BasicTokenizer output: words and punctuation marks, before WordPiece.
  std::vector<std::string> basic_tokenize(std::string_view text) const;
  // Word pieces ("##" marks a continuation), without [CLS]/[SEP].
  std::vector<std::string> tokenize(std::string_view text) const;
  // [CLS] pieces [SEP], truncated to max_length ids (<= 0: options().model_max_length); the special
  // tokens' surface strings in `text` map to their ids, as HF's added-token splitting does.
  std::vector<int32_t> encode(std::string_view text, int64_t max_length = 0) const;

  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.size()); }
  // Id of a token, or -1.
  int32_t token_id(std::string_view token) const;
  const std::string& token(int32_t id) const { return vocab_.at(static_cast<size_t>(id)); }
  int32_t pad_id() const { return pad_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t unk_id() const { return unk_id_; }
  const WordPieceOptions& options() const { return opts_; }

 private:
  void wordpiece(const std::u32string& word, std::vector<int32_t>* ids) const;
  void encode_plain(std::string_view text, std::vector<int32_t>* ids) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> ids_;
  WordPieceOptions opts_;
  int32_t pad_id_ = -1, cls_id_ = -1, sep_id_ = -1, unk_id_ = -1;
};

}  // namespace dm
