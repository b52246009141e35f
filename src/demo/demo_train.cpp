// The demo's training stages: a small Qwen2 model pretrained from scratch, then SFT on the bundled QA.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "demo_impl.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/progress.h"
#include "devops_model/model/model.h"
#include "devops_model/model/random_init.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/train/dataset.h"
#include "devops_model/train/step_log.h"
#include "devops_model/train/trainer.h"

namespace fs = std::filesystem;

namespace dm::demo {

namespace {

// config.json of the from-scratch model: Qwen2 architecture, tied embeddings, rows padded to 64.
nlohmann::json model_config(const DemoSizes& s, const Tokenizer& tok) {
  const int rows = (tok.vocab_size() + 63) / 64 * 64;
  return {{"architectures", {"Qwen2ForCausalLM"}},
          {"model_type", "qwen2"},
          {"hidden_size", s.hidden},
          {"intermediate_size", s.intermediate},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads},
          {"max_position_embeddings", 8 * s.block},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 10000.0},
          {"tie_word_embeddings", true},
          {"vocab_size", rows},
          {"hidden_act", "silu"},
          {"torch_dtype", "float32"},
          {"use_sliding_window", false},
          {"bos_token_id", tok.token_id("<|endoftext|>").value_or(-1)},
          {"eos_token_id", tok.token_id("<|im_end|>").value_or(-1)}};
}

// Runs `tr` to the end with a progress bar, resuming from the newest checkpoint in its output dir,
// and keeps one JSON line per step in log_path (lines past a resumed step are dropped first).
// The settings both demo stages share: cosine schedule with 5 % warmup, beta2 0.95, the demo batch.
TrainArgs demo_train_args(const Ctx& c, const std::string& stage, double learning_rate) {
  TrainArgs a;
  a.output_dir = c.work + "/" + stage;
  a.learning_rate = learning_rate;
  a.batch_size = c.sz.batch;
  a.lr_scheduler_type = "cosine";
  a.warmup_ratio = 0.05;
  a.adam_beta2 = 0.95;
  return a;
}

void run_trainer(const Ctx& c, Trainer& tr, const std::string& output_dir, const std::string& label) {
  const std::string log_path = output_dir + "/log.jsonl";
  if (const std::string ck = resume_from_latest_good(tr, output_dir); !ck.empty()) {
    c.say("resumed from %s at step %lld\n", ck.c_str(), static_cast<long long>(tr.step()));
  }
  make_directories(output_dir);
  truncate_step_log(log_path, tr.step());  // a fresh run (step 0) starts an empty log
  std::ofstream log(log_path, std::ios::app);
  Progress bar(label, tr.total_steps(), "step");
  bar.set(tr.step());
  tr.train([&](const StepLog& l) {
    log << nlohmann::json({{"step", l.step},
                           {"loss", l.loss},
                           {"lr", l.lr},
                           {"grad_norm", l.grad_norm},
                           {"tokens", l.tokens},
                           {"seconds", l.seconds}})
               .dump()
        << "\n";
    log.flush();
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, "loss %.3f", l.loss);
    bar.set_suffix(suffix);
    bar.set(l.step);
  });
  bar.finish();
  // Summary from the whole log (earlier runs included).
  std::ifstream in(log_path);
  std::vector<double> losses;
  double secs = 0;
  int64_t tokens = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    losses.push_back(j.value("loss", 0.0));
    secs += j.value("seconds", 0.0);
    tokens += j.value("tokens", 0LL);
  }
  if (losses.empty()) return;
  const size_t k = std::max<size_t>(1, std::min<size_t>(10, losses.size() / 4));
  double first = 0, last = 0;
  for (size_t i = 0; i < k; ++i) first += losses[i] / static_cast<double>(k);
  for (size_t i = losses.size() - k; i < losses.size(); ++i) last += losses[i] / static_cast<double>(k);
  c.say("%s: %zu steps, loss %.3f -> %.3f (mean of first/last %zu steps), %lld tokens, %.0f tokens/s\n", label.c_str(),
        losses.size(), first, last, k, static_cast<long long>(tokens),
        secs > 0 ? static_cast<double>(tokens) / secs : 0.0);
}

std::string finish_stage(const Ctx& c, const std::string& stage, const std::string& output_dir,
                         const std::vector<StepLog>& hist) {
  const std::string ck = latest_checkpoint(output_dir);
  if (ck.empty()) fail(ErrorKind::kIo, output_dir, ": training left no checkpoint");
  if (!hist.empty()) write_loss_svg(hist, output_dir + "/loss_curve.svg");
  c.set_marker(stage, ck);
  c.say("checkpoint: %s\n", ck.c_str());
  return ck;
}

}  // namespace

std::string stage_pretrain(const Ctx& c, const std::string& docs_dir, const std::string& tok_dir) {
  c.say("\n== 2b. Pretraining a small Qwen2-architecture model from scratch ==\n");
  if (const std::string done = c.marker("pt"); !done.empty()) {
    c.say("(done before: %s)\n", done.c_str());
    return done;
  }
  auto tok = Tokenizer::from_dir(tok_dir);
  const std::vector<std::string> texts = read_docs(docs_dir, c.sz.max_docs);
  std::vector<std::vector<int32_t>> docs;
  {
    Progress bar("tokenize", static_cast<int64_t>(texts.size()), "docs");
    for (const std::string& t : texts) {
      docs.push_back(tok->encode(t, false));
      bar.add(1);
    }
    bar.finish();
  }
  const int32_t end_id = tok->token_id("<|endoftext|>").value_or(-1);
  std::vector<Example> ex = pack_pretrain(docs, end_id, c.sz.block, false);
  const nlohmann::json cfg_json = model_config(c.sz, *tok);
  const ModelConfig cfg = parse_model_config_text(cfg_json.dump(), "demo config");
  auto base = random_model(cfg, 42);
  auto tm = TrainModel::from_model(*base);
  tm->set_bf16(c.opt.bf16);
  base.reset();
  int64_t params = 0;
  for (Param& p : tm->base_params()) params += p.numel();
  int64_t n_tok = 0;
  for (const auto& d : docs) n_tok += static_cast<int64_t>(d.size()) + 1;
  c.say("model: Qwen2, %d layers, hidden %d, %d heads (%d kv), vocab %d, %.2fM parameters\n", cfg.num_layers,
        cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.vocab_size, static_cast<double>(params) / 1e6);
  c.say("data: %zu documents, %lld tokens -> %zu blocks of %d; %d steps of %d blocks (%.1f epochs)\n", docs.size(),
        static_cast<long long>(n_tok), ex.size(), c.sz.block, c.sz.pt_steps, c.sz.batch,
        ex.empty() ? 0.0 : static_cast<double>(c.sz.pt_steps) * c.sz.batch / static_cast<double>(ex.size()));
  TrainArgs a = demo_train_args(c, "pt", c.sz.pt_lr);
  a.tokenizer_dir = tok_dir;
  a.max_steps = c.sz.pt_steps;
  a.weight_decay = 0.01;
  a.save_steps = std::max(1, c.sz.pt_steps / 3);
  Trainer tr(a, *tm, std::move(ex));
  run_trainer(c, tr, a.output_dir, "pretrain");
  return finish_stage(c, "pt", a.output_dir, tr.history());
}

std::string stage_sft(const Ctx& c, const std::string& base_dir) {
  c.say("\n== 2c. SFT on the bundled DevOps QA (ChatML, loss on the replies) ==\n");
  if (const std::string done = c.marker("sft"); !done.empty()) {
    c.say("(done before: %s)\n", done.c_str());
    return done;
  }
  auto tok = Tokenizer::from_dir(base_dir);
  DataOptions d;
  d.stage = "sft";
  d.cutoff_len = 2 * c.sz.block;
  d.im_end_id = tok->token_id("<|im_end|>").value_or(-1);
  d.fail_on_bad_record = true;
  std::vector<BadRecord> bad;
  EncodeFn encode = [&tok](const std::string& t, bool allow) { return tok->encode(t, allow); };
  std::vector<Example> ex = load_examples({c.opt.data_dir + "/sft/qa.jsonl"}, d, encode, bad);
  auto base = Model::load(base_dir);
  auto tm = TrainModel::from_model(*base);
  tm->set_bf16(c.opt.bf16);
  base.reset();
  TrainArgs a = demo_train_args(c, "sft", c.sz.sft_lr);
  a.source_dir = base_dir;
  a.num_train_epochs = c.sz.sft_epochs;
  a.max_steps = c.sz.sft_max_steps;
  a.save_steps = 0;
  int64_t targets = 0;
  for (const Example& e : ex)
    targets += std::count_if(e.labels.begin(), e.labels.end(), [](int32_t l) { return l >= 0; });
  const size_t n_conv = ex.size();
  Trainer tr(a, *tm, std::move(ex));
  c.say("data: %zu conversations (%lld reply tokens); %lld steps of %d\n", n_conv, static_cast<long long>(targets),
        static_cast<long long>(tr.total_steps()), c.sz.batch);
  run_trainer(c, tr, a.output_dir, "sft");
  return finish_stage(c, "sft", a.output_dir, tr.history());
}

}  // namespace dm::demo
