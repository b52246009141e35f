// Sentence embeddings of a JSONL corpus: `devops-model embed`. Streams the input (constant memory apart
// from the output rows, which are spooled to a temporary file) and writes a safetensors file with
// `embeddings` F32 [N, H] and `line` I64 [N] (the 1-based input line of each row).
#pragma once
#include <cstdint>
#include <string>

#include "devops_model/data/doc_io.h"

namespace dm::data {

struct EmbedOptions {
  std::string model_dir;       // BERT / Sentence-BERT directory
  std::string input;           // .jsonl or .jsonl.zst
  std::string output;          // .safetensors
  ReaderOptions reader;        // text_field, strict
  int64_t batch_size = 32;     // sequences per encoder pass
  int64_t max_length = 0;      // tokens per text (0: the model's)
  int64_t chunk_texts = 1024;  // texts read and embedded at a time
};

struct EmbedReport {
  int64_t rows = 0, dims = 0;
  BadInputStats bad_input;  // skipped lines, with file:line examples
  double seconds = 0;
};

// Error(kIo/kFormat) for unreadable files; bad lines are skipped and counted (or thrown with strict).
EmbedReport embed_jsonl(const EmbedOptions& opts);

}  // namespace dm::data
