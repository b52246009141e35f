// `devops-model demo`: the DevOps-Model recipe in miniature on the bundled data (demo/data):
//   1. clean the raw corpus (data clean + data dedup) and print the cleaning report;
//   2. train a small byte-level BPE vocabulary on the cleaned corpus, pretrain a small Qwen2-architecture
//      model from scratch on it, then SFT it on the bundled QA;
//   3. evaluate the base and the tuned model on the bundled multiple-choice set, 0- and 5-shot, and print
//      a table shaped like the seed's;
//   4. chat three turns as in the seed and print the transcript.
// Everything lives under one work directory; each finished stage leaves a marker and is skipped on the
// next run (training also resumes from its last checkpoint); `fresh` deletes the work directory first.
// With `model` set, steps 1-2 are skipped and steps 3-4 run on that checkpoint.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace dm::demo {

// Model and schedule sizes; quick() is the seconds-long variant for tests.
struct DemoSizes {
  int vocab_size = 3000;  // BPE regular tokens (specials after; embedding rows padded to 64)
  int hidden = 128, layers = 4, heads = 4, kv_heads = 2, intermediate = 384;
  int block = 256;  // pretraining block / SFT cutoff
  int batch = 8;
  int pt_steps = 200;
  double pt_lr = 2e-3;  // 3e-3 was past the stable rate: final loss 3.59 against 2.87 here, and bf16 drifted
  int sft_epochs = 12;
  int sft_max_steps = -1;  // > 0 caps SFT steps (quick runs)
  double sft_lr = 2e-3;
  int eval_limit = 0;  // > 0: only the first N questions
  int chat_max_new_tokens = 160;
  size_t max_docs = 0;  // > 0: only the first N cleaned documents (quick runs)
  static DemoSizes full();
  static DemoSizes quick();
};

struct DemoOptions {
  std::string work_dir = "demo-work";
  std::string data_dir;                // bundled data (raw/, sft/, mcq/); default: the source tree's demo/data
  bool fresh = false;                  // delete work_dir first
  bool quick = false;                  // DemoSizes::quick()
  bool bf16 = false;                   // pretraining and SFT in bf16 mixed precision (train --bf16)
  std::string model;                   // skip cleaning and training; evaluate and chat with this checkpoint
  std::vector<std::string> eval_data;  // MCQ folders (default: data_dir/mcq)
  std::string preset;                  // eval preset (e.g. devops-574) applied to eval_data
  bool eval_chat = false;              // wrap eval prompts as ChatML (chat checkpoints)
  std::vector<std::string> questions = {"你是谁", "Java 中 HashMap 和 Hashtable 有什么区别", "线程安全代表什么"};
};

// Where the demo's data ships (compile-time path of demo/data in the source tree).
std::string default_data_dir();

// Runs the demo; every report line goes to `out` (progress bars go to stderr). Returns 0 on success.
int run_demo(const DemoOptions& opts, const std::function<void(std::string_view)>& out);

}  // namespace dm::demo
