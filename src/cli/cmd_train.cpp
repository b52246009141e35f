// `devops-model train`: LLaMA-Factory / HF TrainingArguments option names (dashes or underscores), or a
// flat LLaMA-Factory YAML recipe as the single argument. Parses, builds, and prints per-step logs.
#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include <sys/resource.h>

#include "cli/command.h"
#include "cli/model_args.h"
#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/progress.h"
#include "devops_model/core/sysinfo.h"
#include "devops_model/kernels/ops_backward.h"
#include "devops_model/model/model.h"
#include "devops_model/model/random_init.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/train/data_parallel.h"
#include "devops_model/train/dataset.h"
#include "devops_model/train/step_log.h"
#include "devops_model/train/trainer.h"

namespace fs = std::filesystem;

namespace dm::cli {
namespace {

struct Opts {
  TrainArgs a;
  DataOptions d;
  LoraConfig lora;
  std::string dtype = "f32";  // the base's weights: f32 masters, or (LoRA) frozen as stored / quantized at load
  int quantization_bit = 0;   // LLaMA-Factory's QLoRA switch: 8 -> q8_0, 4 -> q4_k
  std::string model, from_scratch, tokenizer, finetuning_type = "full", lora_target = "all", log_json, recipe;
  std::string resume;  // "", "true"/"auto" (latest in output_dir) or a checkpoint dir
  std::vector<std::string> data;
  int threads = 0;
  bool no_shuffle = false;
  bool quiet_rank = false;  // ranks other than 0 of a data-parallel job print nothing but errors
  bool gradient_checkpointing = false;
  bool bf16 = false, fp16 = false;  // mixed precision (HF's flags); fp16 is refused
  int64_t logging_steps = 1;
  std::map<std::string, std::function<void(const std::string&)>> setters;  // YAML keys
};

// Registers --name and --name-with-dashes bound to `v`, and the YAML key `name`.
template <typename T>
void opt(CLI::App& app, Opts& o, const std::string& name, T* v, const std::string& help) {
  std::string dashed = name;
  for (char& c : dashed) c = c == '_' ? '-' : c;
  app.add_option(dashed == name ? "--" + name : "--" + name + ",--" + dashed, *v, help);
  o.setters[name] = [v, name](const std::string& s) {
    std::istringstream in(s);
    if constexpr (std::is_same_v<T, std::string>) *v = s;
    else if (!(in >> *v)) fail(ErrorKind::kInvalidArgument, "recipe: bad value for ", name, ": ", s);
  };
}

// Flat `key: value` YAML (LLaMA-Factory recipes); comments and quotes stripped.
void apply_recipe(Opts& o) {
  std::ifstream in(o.recipe);
  if (!in) fail(ErrorKind::kIo, o.recipe, ": cannot open");
  std::string line;
  for (int ln = 1; std::getline(in, line); ++ln) {
    if (auto h = line.find(" #"); h != std::string::npos) line.resize(h);
    if (line.empty() || line[0] == '#' || line.find(':') == std::string::npos) continue;
    std::string k = line.substr(0, line.find(':')), v = line.substr(line.find(':') + 1);
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t\"'"));
      s.erase(s.find_last_not_of(" \t\r\"'") + 1);
      return s;
    };
    k = trim(k), v = trim(v);
    if (k == "dataset" || k == "data") {
      o.data.push_back(v);
    } else if (k == "model_name_or_path") {
      o.model = v;
    } else if (auto it = o.setters.find(k); it != o.setters.end()) {
      if (v == "true") v = "1";
      if (v == "false") v = "0";
      it->second(v);
    } else {
      std::fprintf(stderr, "%s:%d: ignoring unknown key '%s'\n", o.recipe.c_str(), ln, k.c_str());
    }
  }
}

// The tokenizer of --tokenizer (dir or file), else of --model when it has one (pre-tokenized data needs
// none). Sets the end / <|im_end|> ids the data options leave unset and where checkpoints copy it from.
std::unique_ptr<Tokenizer> load_train_tokenizer(Opts& o, int64_t model_vocab) {
  std::unique_ptr<Tokenizer> tok;
  if (!o.tokenizer.empty()) {
    const bool dir = fs::is_directory(o.tokenizer);
    tok = dir ? Tokenizer::from_dir(o.tokenizer) : Tokenizer::from_file(o.tokenizer);
    o.a.tokenizer_dir = dir ? o.tokenizer : fs::path(o.tokenizer).parent_path().string();
  } else if (!o.model.empty()) {
    try {
      tok = Tokenizer::from_dir(o.model);
    } catch (const Error&) {
      return nullptr;  // no tokenizer files: records must be pre-tokenized
    }
  } else {
    return nullptr;
  }
  if (tok->vocab_size() > model_vocab)
    fail(ErrorKind::kInvalidArgument, "tokenizer has ", tok->vocab_size(), " ids but the model only ", model_vocab,
         " embedding rows");
  if (o.d.end_id < 0) o.d.end_id = tok->token_id("<|endoftext|>").value_or(-1);
  if (o.d.im_end_id < 0) o.d.im_end_id = tok->token_id("<|im_end|>").value_or(-1);
  return tok;
}

// Peak resident memory of this process so far, in bytes (Linux: ru_maxrss in KiB).
double peak_rss_bytes() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

// Refuses, before the f32 copies are made, a run whose f32 weights (and, fully fine-tuned, gradients and AdamW
// moments as its ZeRO stage shards them) cannot fit this machine's memory: the kernel would otherwise kill
// it after minutes of paging. Ranks on this machine (mpirun's local size) share it.
void check_training_memory(const ModelConfig& c, const Opts& o) {
  const double C = c.hidden_size, F = c.intermediate_size, Q = c.q_dim(), KVD = c.kv_dim(), V = c.vocab_size;
  const double per_layer = 2 * C + (c.qk_norm ? 2.0 * c.head_dim : 0) + C * Q + 2 * C * KVD + Q * C + 3 * C * F +
                           (c.qkv_bias ? Q + 2 * KVD : 0);
  const double n = V * C * (c.tie_embeddings ? 1 : 2) + C + per_layer * c.num_layers;
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const double local_ranks = local ? std::max(1, std::atoi(local)) : 1;
  const double ranks = ProcessGroup::world().size();
  const bool full = o.finetuning_type != "lora";
  double per_param = 4;  // f32 weights
  if (full) per_param += (o.a.zero_stage == 2 ? 4 / ranks : 4) + (o.a.zero_stage >= 1 ? 8 / ranks : 8);
  const double need = n * per_param * local_ranks, avail = static_cast<double>(available_memory_bytes());
  if (avail <= 0 || need <= avail) return;
  constexpr double GiB = 1024.0 * 1024.0 * 1024.0;
  char what[256];
  std::snprintf(what, sizeof what, "%.2fB-parameter model keeps %.1f bytes a parameter in f32 (%.1f GiB for %.0f "
                "rank(s) on this machine), and %.1f GiB is available", n / 1e9, per_param, need / GiB, local_ranks,
                avail / GiB);
  fail(ErrorKind::kInvalidArgument, "not enough memory: ", o.finetuning_type, " training of this ", what,
       full ? "; shard it over more machines (mpirun, --zero_stage 2), train LoRA on a frozen quantized base "
              "(--finetuning_type lora --dtype q8_0: 1.06 bytes a parameter) or use a machine with more memory"
            : "; keep the frozen base quantized (--dtype q8_0: 1.06 bytes a parameter, or q4_k) or use a machine "
              "with more memory");
}

// What each rank holds and sends, for sizing a cluster run (rank 0 prints; every rank has the same shape).
void print_data_parallel_plan(const Trainer& tr, TrainModel& tm) {
  const DataParallel& dp = tr.data_parallel();
  double params = 0, trainable = 0, owned = 0;  // elements
  for (Param& p : tm.base_params()) params += static_cast<double>(p.numel());
  for (Param& p : tm.lora_params()) params += static_cast<double>(p.numel());
  for (Param* p : tm.trainable()) trainable += static_cast<double>(p->numel());
  for (const ParamRange& r : dp.owned()) owned += static_cast<double>(r.size());
  constexpr double MiB = 1024.0 * 1024.0;
  const int micro = tr.args().grad_accum;
  std::printf(
      "data parallel: %d rank(s), zero stage %d; per rank: weights %.1f MiB, gradients %.1f MiB%s, "
      "optimizer moments %.1f MiB (%.0f of %.0f trainable elements); sends %.1f MiB per step\n",
      dp.ranks(), dp.zero_stage(), params * 4 / MiB, dp.kept_gradient_elements(micro) * 4 / MiB,
      dp.shards_grads() ? " kept (whole only for the layers in flight)" : "", owned * 8 / MiB, owned, trainable,
      dp.bytes_sent_per_step(micro) / MiB);
}

int run_train(Opts& o) {
  if (!o.recipe.empty()) apply_recipe(o);
  ProcessGroup& group = ProcessGroup::world();
  if (!group.is_root()) o.quiet_rank = true, Progress::set_quiet(true);
  apply_threads(o.threads);
  if (o.data.empty() || o.a.output_dir.empty())
    fail(ErrorKind::kInvalidArgument, "--data and --output_dir are required");
  if (const auto names = dtype_choices(); std::find(names.begin(), names.end(), o.dtype) == names.end())
    fail(ErrorKind::kInvalidArgument, "dtype: unknown '", o.dtype, "' (f32, stored, q8_0, q4_k, ...)");
  if (o.quantization_bit != 0) {
    if (o.quantization_bit != 8 && o.quantization_bit != 4)
      fail(ErrorKind::kInvalidArgument, "quantization_bit must be 8 (q8_0) or 4 (q4_k), got ", o.quantization_bit);
    const std::string q = o.quantization_bit == 8 ? "q8_0" : "q4_k";
    if (o.dtype != "f32" && o.dtype != q)
      fail(ErrorKind::kInvalidArgument, "quantization_bit ", o.quantization_bit, " and --dtype ", o.dtype, " disagree");
    o.dtype = q;
  }
  if (o.fp16)
    fail(ErrorKind::kInvalidArgument, "fp16 mixed precision is not supported (it needs loss scaling and CPUs have "
         "no fp16 matmul advantage here); use --bf16");
  // Any --dtype but f32 keeps the base frozen in that dtype (QLoRA with a quantized one): adapters only.
  const bool frozen_base = o.dtype != "f32";
  if (frozen_base && (o.finetuning_type != "lora" || o.model.empty()))
    fail(ErrorKind::kInvalidArgument, "--dtype ", o.dtype, " keeps the base model frozen in that dtype: it needs "
         "--model and --finetuning_type lora (full fine-tuning trains f32 master weights)");
  std::shared_ptr<Model> base;
  if (!o.model.empty()) {
    // Trained in f32: loaded as stored (mmap'd where it can be) and copied once into the f32 masters, which
    // the memory check sizes first; loading as f32 made a second whole f32 copy.
    base = Model::load(o.model, frozen_base ? load_options_for_dtype(o.dtype) : LoadOptions{});
    if (!frozen_base) check_training_memory(base->config(), o);
    o.a.source_dir = o.model;
  } else if (!o.from_scratch.empty()) {
    const ModelConfig config = read_model_config(o.from_scratch);
    check_training_memory(config, o);
    base = random_model(config, o.a.seed);
  } else {
    fail(ErrorKind::kInvalidArgument, "give --model DIR or --from-scratch CONFIG.json");
  }
  auto tm = frozen_base ? TrainModel::over_frozen_base(base) : TrainModel::from_model(*base);
  base.reset();
  tm->set_gradient_checkpointing(o.gradient_checkpointing);
  tm->set_bf16(o.bf16);
  if (o.finetuning_type == "lora") {
    std::stringstream ss(o.lora_target);
    for (std::string t; std::getline(ss, t, ',');) o.lora.targets.push_back(t);
    tm->enable_lora(o.lora, o.a.seed);
  } else if (o.finetuning_type != "full") {
    fail(ErrorKind::kInvalidArgument, "finetuning_type must be full or lora");
  }
  o.a.shuffle = !o.no_shuffle;
  std::unique_ptr<Tokenizer> tok = load_train_tokenizer(o, tm->config().vocab_size);
  EncodeFn encode;
  if (tok) encode = [&tok](const std::string& text, bool allow_special) { return tok->encode(text, allow_special); };
  std::vector<BadRecord> bad;
  auto ex = load_examples(o.data, o.d, encode, bad);
  for (const BadRecord& b : bad) std::fprintf(stderr, "skipped %s: %s\n", b.where.c_str(), b.why.c_str());
  Trainer tr(o.a, *tm, std::move(ex), group);
  if (!o.quiet_rank) print_data_parallel_plan(tr, *tm);
  if (!o.quiet_rank && o.bf16)
    std::printf("mixed precision: bf16 operands, f32 sums (%s)\n",
                gemm_bf16_native() ? "AVX512-BF16 vdpbf16ps" : "rounded f32 on this CPU: no AVX512-BF16");
  std::string ckpt = o.resume;
  if (o.resume == "true" || o.resume == "auto" || o.resume == "1") {
    ckpt = resume_from_latest_good(tr, o.a.output_dir);
  } else if (!ckpt.empty()) {
    tr.resume(ckpt);
  }
  if (!ckpt.empty() && !o.quiet_rank) {
    std::printf("resumed from %s at step %lld\n", ckpt.c_str(), static_cast<long long>(tr.step()));
    if (!o.log_json.empty()) truncate_step_log(o.log_json, tr.step());  // steps past the checkpoint run again
  }
  const bool log_json = !o.log_json.empty() && !o.quiet_rank;
  std::FILE* jl = log_json ? std::fopen(o.log_json.c_str(), "a") : nullptr;
  if (log_json && !jl) fail(ErrorKind::kIo, o.log_json, ": cannot open");
  Progress bar("train", tr.total_steps(), "step");
  bar.set(tr.step());
  tr.train([&](const StepLog& l) {
    if (o.quiet_rank) return;
    const double tps = l.seconds > 0 ? static_cast<double>(l.tokens) / l.seconds : 0.0;
    char suffix[96];
    std::snprintf(suffix, sizeof suffix, "loss %.4f, %.0f tok/s", l.loss, tps);
    bar.set_suffix(suffix);
    bar.set(l.step);
    // A log line every logging_steps steps (and the last); the JSON log keeps every step.
    if (l.step % std::max<int64_t>(o.logging_steps, 1) == 0 || l.step == tr.total_steps()) {
      std::printf("step %lld/%lld loss %.4f lr %.3g grad_norm %.4f tokens/s %.0f\n", static_cast<long long>(l.step),
                  static_cast<long long>(tr.total_steps()), l.loss, l.lr, l.grad_norm, tps);
      std::fflush(stdout);
    }
    if (jl) {
      nlohmann::json j = {{"step", l.step}, {"loss", l.loss},     {"grad_norm", l.grad_norm},
                          {"lr", l.lr},     {"tokens", l.tokens}, {"seconds", l.seconds}};
      std::fprintf(jl, "%s\n", j.dump().c_str());
      std::fflush(jl);
    }
  });
  bar.finish();
  if (jl) std::fclose(jl);
  // Peak memory of every rank (the largest decides the machine size), then where the model went.
  std::vector<double> rss(static_cast<size_t>(group.size()), 0.0);
  rss[static_cast<size_t>(group.rank())] = peak_rss_bytes();
  group.allreduce_sum(rss.data(), static_cast<int64_t>(rss.size()));
  if (!o.quiet_rank) {
    std::printf("peak RSS per rank (MiB):");
    for (double r : rss) std::printf(" %.0f", r / (1024.0 * 1024.0));
    std::printf("\nsaved %s\n", latest_checkpoint(o.a.output_dir).c_str());
  }
  return 0;
}

Registrar reg{{"train", "continued pretraining / SFT, full or LoRA",
               [](CLI::App& app) {
  auto o = std::make_shared<Opts>();
  app.add_option("recipe", o->recipe, "LLaMA-Factory style YAML recipe (flat key: value)");
  app.add_option("--model,--model_name_or_path,--model-name-or-path", o->model, "HF model dir");
  app.add_option("--dtype", o->dtype,
                 "base weights: f32 master copies (default), or with --finetuning_type lora frozen as stored (bf16, "
                 "GGUF types) or quantized at load to a ggml type (q8_0, q4_k, ...): QLoRA")
      ->check(CLI::IsMember(dtype_choices()));
  app.add_option("--from-scratch,--from_scratch", o->from_scratch, "config.json for a new model");
  app.add_option("--tokenizer", o->tokenizer,
                 "tokenizer dir or file (default: the --model dir); copied into checkpoints");
  app.add_option("--data,--dataset", o->data, "data files (JSONL / text)");
  app.add_option("--resume,--resume_from_checkpoint,--resume-from-checkpoint", o->resume,
                 "checkpoint dir, or 'auto' for the latest in output_dir");
  app.add_flag("--no-shuffle,--no_shuffle", o->no_shuffle, "batches in file order");
  app.add_option("--log-json,--log_json", o->log_json, "append one JSON object per step");
  add_threads_option(app, &o->threads);
  Opts& r = *o;
  app.add_flag("--gradient_checkpointing,--gradient-checkpointing", r.gradient_checkpointing,
               "keep only each layer's input and recompute the layer in the backward (=false to turn off)");
  app.add_flag("--bf16", r.bf16,
               "mixed precision: bf16 weights and activations in the matmuls (AVX512-BF16 where the CPU has it), "
               "f32 master weights, sums and optimizer state");
  app.add_flag("--fp16", r.fp16, "refused: use --bf16");
  r.setters["dtype"] = [&r](const std::string& v) { r.dtype = v; };
  for (auto [key, flag] : {std::pair{"gradient_checkpointing", &r.gradient_checkpointing}, std::pair{"bf16", &r.bf16},
                           std::pair{"fp16", &r.fp16}}) {
    r.setters[key] = [flag, key = std::string(key)](const std::string& v) {
      if (v != "0" && v != "1") fail(ErrorKind::kInvalidArgument, "recipe: ", key, " must be true or false, got ", v);
      *flag = v == "1";
    };
  }
  opt(app, r, "stage", &r.d.stage, "pt | sft");
  opt(app, r, "output_dir", &r.a.output_dir, "where checkpoints go");
  opt(app, r, "learning_rate", &r.a.learning_rate, "peak learning rate");
  opt(app, r, "per_device_train_batch_size", &r.a.batch_size, "sequences per micro-batch");
  opt(app, r, "gradient_accumulation_steps", &r.a.grad_accum, "micro-batches per step");
  opt(app, r, "lr_scheduler_type", &r.a.lr_scheduler_type, "constant | linear | cosine");
  opt(app, r, "warmup_ratio", &r.a.warmup_ratio, "warmup fraction of steps");
  opt(app, r, "max_steps", &r.a.max_steps, "optimizer steps (overrides epochs)");
  opt(app, r, "num_train_epochs", &r.a.num_train_epochs, "epochs");
  opt(app, r, "weight_decay", &r.a.weight_decay, "AdamW decoupled decay (2-D weights)");
  opt(app, r, "adam_beta1", &r.a.adam_beta1, "AdamW beta1");
  opt(app, r, "adam_beta2", &r.a.adam_beta2, "AdamW beta2");
  opt(app, r, "adam_epsilon", &r.a.adam_epsilon, "AdamW eps");
  opt(app, r, "max_grad_norm", &r.a.max_grad_norm, "global-norm clip (0 = off)");
  opt(app, r, "seed", &r.a.seed, "data order / init seed");
  opt(app, r, "save_steps", &r.a.save_steps, "checkpoint every N steps");
  opt(app, r, "cutoff_len", &r.d.cutoff_len, "pt block size / sft max length");
  opt(app, r, "block_size", &r.d.cutoff_len, "alias of cutoff_len for pt");
  opt(app, r, "finetuning_type", &r.finetuning_type, "full | lora");
  opt(app, r, "lora_rank", &r.lora.rank, "LoRA rank");
  opt(app, r, "lora_alpha", &r.lora.alpha, "LoRA alpha");
  opt(app, r, "lora_dropout", &r.lora.dropout, "LoRA dropout");
  opt(app, r, "lora_target", &r.lora_target,
      "comma list of linear modules in the model's own names (Qwen2/3 q_proj..down_proj; Qwen1: README) or all");
  opt(app, r, "quantization_bit", &r.quantization_bit,
      "QLoRA as LLaMA-Factory names it: 8 = --dtype q8_0, 4 = --dtype q4_k (K a multiple of 256)");
  opt(app, r, "zero_stage", &r.a.zero_stage,
      "with several ranks (mpirun -np N): 0 all-reduce, 1 shard AdamW moments, 2 also gradients");
  opt(app, r, "fail_on_bad_record", &r.d.fail_on_bad_record, "stop at the first bad record");
  opt(app, r, "logging_steps", &r.logging_steps, "print a log line every N steps (--log-json keeps every step)");
  return [o]() { return run_train(*o); };
               }}};

}  // namespace
}  // namespace dm::cli
