// `devops-model tokenizer train|extend`: byte-level BPE vocabularies (see tokenizer/bpe_trainer.h).
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/data/doc_io.h"
#include "devops_model/tokenizer/bpe_trainer.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/train/checkpoint.h"

namespace fs = std::filesystem;

namespace dm::cli {
namespace {

struct TokArgs {
  std::vector<std::string> corpus;
  std::string out, base, text_field = "text";
  int32_t vocab_size = 4096, add = 1000;
  int64_t min_frequency = 2;
  bool no_checkpoint = false;
};

// Every document of every file (JSONL, JSONL.zst or plain text), counted into pieces.
void count_corpus(const TokArgs& a, PieceCounter& pc) {
  data::ReaderOptions ro;
  ro.text_field = a.text_field;
  int64_t docs = 0;
  for (const std::string& f : a.corpus) {
    data::DocReader r(f, ro);
    data::Document d;
    while (r.next(&d)) {
      pc.add_text(d.text);
      ++docs;
    }
  }
  std::printf("corpus: %lld documents, %.2f MB, %zu distinct pieces\n", static_cast<long long>(docs),
              static_cast<double>(pc.bytes_seen()) / 1e6, pc.counts().size());
}

int run_train_tok(const TokArgs& a) {
  PieceCounter pc;
  count_corpus(a, pc);
  BpeTrainOptions o;
  o.vocab_size = a.vocab_size;
  o.min_frequency = a.min_frequency;
  const BpeVocab v = train_bpe(pc, o);
  write_bpe_tokenizer(v, a.out);
  auto tok = Tokenizer::from_dir(a.out);  // proves the file loads
  std::printf("%zu merges, %d ids (specials %zu); wrote %s/tokenizer.json\n", v.merges.size(), tok->vocab_size(),
              v.special_tokens.size(), a.out.c_str());
  return 0;
}

int run_extend(const TokArgs& a) {
  PieceCounter pc;
  count_corpus(a, pc);
  const bool has_model = !a.no_checkpoint && fs::exists(a.base + "/config.json");
  int32_t min_first = 0;
  if (has_model) {
    const auto cfg = read_json_file(a.base + "/config.json");
    min_first = cfg.value("vocab_size", 0);
  }
  // The checkpoint first (it copies the base's tokenizer files), then the extended tokenizer over them.
  const BpeExtendResult r = extend_bpe_tokenizer(a.base, pc, a.add, min_first, a.min_frequency, a.out + ".tok.tmp");
  if (has_model) resize_vocab_checkpoint(a.base, r.vocab_size, a.out);
  make_directories(a.out);
  for (const auto& e : fs::directory_iterator(a.out + ".tok.tmp"))
    fs::copy_file(e.path(), fs::path(a.out) / e.path().filename(), fs::copy_options::overwrite_existing);
  fs::remove_all(a.out + ".tok.tmp");
  std::printf("added %d tokens (ids %d..%d); vocabulary %d", r.added, r.first_new_id, r.first_new_id + r.added - 1,
              r.vocab_size);
  if (has_model) std::printf("; resized checkpoint (new rows = mean of old rows)");
  std::printf(" -> %s\n", a.out.c_str());
  for (size_t i = 0; i < r.new_tokens.size() && i < 10; ++i) std::printf("  + %s\n", r.new_tokens[i].c_str());
  return 0;
}

Registrar reg{{"tokenizer", "byte-level BPE: train a vocabulary, or extend one (and its checkpoint)",
               [](CLI::App& app) {
  auto a = std::make_shared<TokArgs>();
  app.require_subcommand(1);
  auto* tr = app.add_subcommand("train", "learn a byte-level BPE vocabulary (Qwen split regex, NFC)");
  tr->add_option("--corpus", a->corpus, "text files (.jsonl, .jsonl.zst, plain text)")->required()->expected(1, -1);
  tr->add_option("--vocab-size", a->vocab_size, "byte tokens + merges (specials come after)")->capture_default_str();
  tr->add_option("--min-frequency", a->min_frequency, "stop when the best pair is rarer")->capture_default_str();
  tr->add_option("--out", a->out, "output directory")->required();
  auto* ex = app.add_subcommand("extend", "add merges learned on a corpus; old ids unchanged; resize the checkpoint");
  ex->add_option("--base", a->base, "model or tokenizer dir with tokenizer.json")->required();
  ex->add_option("--corpus", a->corpus, "text files (.jsonl, .jsonl.zst, plain text)")->required()->expected(1, -1);
  ex->add_option("--add", a->add, "new tokens to learn")->capture_default_str();
  ex->add_option("--min-frequency", a->min_frequency, "stop when the best pair is rarer")->capture_default_str();
  ex->add_flag("--no-checkpoint", a->no_checkpoint, "only the tokenizer, even if --base holds a model");
  ex->add_option("--out", a->out, "output directory")->required();
  for (auto* s : {tr, ex}) s->add_option("--text-field", a->text_field, "JSON field holding the text");
  return [a, tr]() { return tr->parsed() ? run_train_tok(*a) : run_extend(*a); };
               }}};

}  // namespace
}  // namespace dm::cli
