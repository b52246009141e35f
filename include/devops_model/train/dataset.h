// Training data: pretraining packing, SFT conversations rendered with the seed's ChatML template and
// masked (loss on assistant replies + their <|im_end|> only), and pre-tokenized JSONL.
// Tokenisation is injected (EncodeFn) so this module works with any tokenizer and tests can fake one.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "devops_model/train/trainer.h"

namespace dm {

// encode(text, allow_special): ids of text (special-token text recognised when allow_special).
using EncodeFn = std::function<std::vector<int32_t>(const std::string& text, bool allow_special)>;

struct Turn {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

struct DataOptions {
  std::string stage = "pt";    // pt | sft
  int64_t cutoff_len = 1024;   // pt block size; sft max total length (turns past it are dropped)
  int64_t max_source_len = 0;  // sft per-turn prompt cap (0 = cutoff_len)
  int64_t max_target_len = 0;  // sft per-turn reply cap (0 = cutoff_len)
  std::string system_prompt = "You are a helpful assistant.";  // when a record has none
  int32_t end_id = -1;          // pt: appended to every document (<|endoftext|> unless configured)
  bool mask_end_token = false;  // pt: the seed's collator leaves the separator out of the loss
  int32_t im_end_id = -1;       // sft: <|im_end|>
  bool fail_on_bad_record = false;
};

// Pretraining: each document + end_id, concatenated, cut into blocks of `block` tokens, remainder dropped.
std::vector<Example> pack_pretrain(const std::vector<std::vector<int32_t>>& docs, int32_t end_id, int64_t block,
                                   bool mask_end_token);

// SFT: ChatML (the seed's `chatml` template): turn 0 source "<|im_start|>system\n{sys}<|im_end|>\n<|im_start|>user\n
// {q}<|im_end|>\n<|im_start|>assistant\n", later sources start with "\n"; each target "{reply}<|im_end|>".
// Labels = ids on targets, -100 elsewhere. `turns` alternate user/assistant (a leading system turn
// overrides the default system). Error(kFormat) on wrong roles/order.
Example chatml_example(const std::vector<Turn>& turns, const EncodeFn& encode, const DataOptions& opt);

// One JSONL record of any supported layout -> turns: alpaca (instruction, input, output, system, history),
// sharegpt (conversations of from/value), OpenAI messages (role/content). Error(kFormat) when the line is
// not a JSON object or names a missing field.
std::vector<Turn> record_turns(const std::string& json_line);

struct BadRecord {
  std::string where;  // file:line
  std::string why;
};

// Reads every file (JSONL, or plain text for pt: one document per file) into examples. Pre-tokenized
// records ({"input_ids": [...], "labels": [...]}) are taken as they are. Bad records are collected in `bad`
// and skipped, or throw Error(kFormat) with file:line when opt.fail_on_bad_record. `encode` may be null if
// every record is pre-tokenized.
std::vector<Example> load_examples(const std::vector<std::string>& files, const DataOptions& opt,
                                   const EncodeFn& encode, std::vector<BadRecord>& bad);

}  // namespace dm
