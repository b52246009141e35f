// devops-model convert: write checkpoints. --random: random weights of a real model shape (speed work
// without weights); --merge-lora: a PEFT LoRA adapter merged into its base (W' = W + (alpha/r)·B·A);
// --to-gguf: any model we load as one GGUF file, its matrices typed by --outtype (a llama-quantize preset).
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "cli/gguf_report.h"
#include "devops_model/convert/gguf_model.h"
#include "devops_model/core/error.h"
#include "devops_model/model/gguf_export.h"
#include "devops_model/model/random_init.h"
#include "devops_model/train/checkpoint.h"

namespace dm::cli {
namespace {

struct Args {
  bool random = false, merge_lora = false;
  std::string shape, out, dtype = "bf16", tokenizer, model, adapter, to_gguf, outtype = "f16";
  uint64_t seed = 0;
  int threads = 0;
};

int run_random(const Args& a) {
  if (a.shape.empty()) fail(ErrorKind::kInvalidArgument, "--random needs --shape");
  ModelConfig c = shape_preset(a.shape);
  DType dt = a.dtype == "f32" ? DType::kF32 : a.dtype == "f16" ? DType::kF16 : DType::kBF16;
  write_random_checkpoint(c, a.out, dt, a.seed);
  if (!a.tokenizer.empty()) {
    namespace fs = std::filesystem;
    if (!fs::exists(a.tokenizer)) fail(ErrorKind::kIo, a.tokenizer, ": no such file");
    fs::copy_file(a.tokenizer, fs::path(a.out) / fs::path(a.tokenizer).filename(),
                  fs::copy_options::overwrite_existing);
  }
  std::fprintf(stderr, "wrote random %s (%s) to %s\n", a.shape.c_str(), a.dtype.c_str(), a.out.c_str());
  return 0;
}

int run_merge(const Args& a) {
  if (a.model.empty() || a.adapter.empty())
    fail(ErrorKind::kInvalidArgument, "--merge-lora needs --model and --adapter");
  merge_lora_checkpoint(a.model, a.adapter, a.out);
  std::fprintf(stderr, "merged %s into %s -> %s (f32)\n", a.adapter.c_str(), a.model.c_str(), a.out.c_str());
  return 0;
}

int run_to_gguf(const Args& a) {
  if (a.model.empty()) fail(ErrorKind::kInvalidArgument, "--to-gguf needs --model");
  print_gguf_report(a.to_gguf, write_gguf_model(a.model, a.to_gguf, a.outtype));
  return 0;
}

Registrar reg{{"convert", "write checkpoints: --random (random weights of a real shape), --merge-lora or --to-gguf",
               [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* random = app.add_flag("--random", a->random, "random weights of a real model shape (needs --shape)");
  auto* merge = app.add_flag("--merge-lora", a->merge_lora, "merge --adapter into --model");
  auto* gguf = app.add_option("--to-gguf", a->to_gguf, "write --model as this GGUF file (typed by --outtype)");
  random->excludes(merge)->excludes(gguf);
  merge->excludes(random)->excludes(gguf);
  std::string types;
  for (const auto& n : gguf_preset_names()) types += (types.empty() ? "" : ", ") + n;
  app.add_option("--outtype", a->outtype, "GGUF types (--to-gguf): " + types + " (default F16)");
  std::string shapes;
  for (const auto& n : shape_preset_names()) shapes += (shapes.empty() ? "" : ", ") + n;
  app.add_option("--shape", a->shape, "model shape (--random): " + shapes);
  app.add_option("--model", a->model, "base checkpoint (--merge-lora); the model to write (--to-gguf)");
  app.add_option("--adapter", a->adapter, "PEFT LoRA adapter directory (--merge-lora)");
  app.add_option("--out", a->out, "output directory (--random, --merge-lora)");
  app.add_option("--dtype", a->dtype, "bf16 | f16 | f32 (--random)")->check(CLI::IsMember({"bf16", "f16", "f32"}));
  app.add_option("--seed", a->seed, "random seed (--random)");
  app.add_option("--tokenizer", a->tokenizer, "a tokenizer file to copy into the checkpoint (--random)");
  add_threads_option(app, &a->threads);
  return [a]() {
    apply_threads(a->threads);
    if (int(a->random) + int(a->merge_lora) + int(!a->to_gguf.empty()) != 1)
      fail(ErrorKind::kInvalidArgument, "convert: give exactly one of --random, --merge-lora or --to-gguf");
    if (!a->to_gguf.empty()) return run_to_gguf(*a);
    if (a->out.empty()) fail(ErrorKind::kInvalidArgument, "convert: --out is required with --random and --merge-lora");
    return a->random ? run_random(*a) : run_merge(*a);
  };
               }}};

}  // namespace
}  // namespace dm::cli
