// The training loop: seeded data order, accumulation, clipping, AdamW, schedule, checkpoints, resume.
#include "devops_model/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/model/model.h"
#include "devops_model/train/checkpoint.h"

namespace fs = std::filesystem;

namespace dm {

Trainer::Trainer(TrainArgs args, TrainModel& model, std::vector<Example> data)
    : args_(std::move(args)),
      model_(model),
      data_(std::move(data)),
      opt_(
          AdamWConfig{args_.learning_rate, args_.adam_beta1, args_.adam_beta2, args_.adam_epsilon, args_.weight_decay}),
      sched_(parse_lr_schedule(args_.lr_scheduler_type)) {
  if (data_.empty()) fail(ErrorKind::kInvalidArgument, "training data is empty");
  if (args_.batch_size <= 0 || args_.grad_accum <= 0)
    fail(ErrorKind::kInvalidArgument, "batch size and gradient_accumulation_steps must be > 0");
  for (const Example& e : data_)
    if (e.ids.size() != e.labels.size() || e.ids.empty())
      fail(ErrorKind::kInvalidArgument, "example with ", e.ids.size(), " ids and ", e.labels.size(), " labels");
  batches_per_epoch_ = (static_cast<int64_t>(data_.size()) + args_.batch_size - 1) / args_.batch_size;
  const int64_t steps_per_epoch = std::max<int64_t>(1, batches_per_epoch_ / args_.grad_accum);
  total_steps_ = args_.max_steps > 0
                     ? args_.max_steps
                     : static_cast<int64_t>(std::ceil(args_.num_train_epochs * static_cast<double>(steps_per_epoch)));
  warmup_ = warmup_steps_for(args_.warmup_ratio, total_steps_);
}

std::vector<size_t> Trainer::epoch_order(int64_t epoch) const {
  std::vector<size_t> order(data_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (!args_.shuffle) return order;
  // Fisher-Yates with our own index draw (std::shuffle's is implementation-defined).
  std::mt19937_64 rng(args_.seed * 1000003ull + static_cast<uint64_t>(epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

void Trainer::make_batch(int64_t micro_index, std::vector<int32_t>& ids, std::vector<int32_t>& labels, int64_t& T,
                         int64_t& tokens) const {
  const int64_t epoch = micro_index / batches_per_epoch_, within = micro_index % batches_per_epoch_;
  const std::vector<size_t> order = epoch_order(epoch);
  std::vector<const Example*> ex;
  for (int64_t b = 0; b < args_.batch_size; ++b) {
    const size_t k = static_cast<size_t>(within * args_.batch_size + b);
    if (k < order.size()) ex.push_back(&data_[order[k]]);
  }
  T = 0;
  tokens = 0;
  for (const Example* e : ex) T = std::max<int64_t>(T, static_cast<int64_t>(e->ids.size()));
  ids.assign(static_cast<size_t>(T) * ex.size(), args_.pad_id);
  labels.assign(ids.size(), -100);
  for (size_t b = 0; b < ex.size(); ++b) {
    std::copy(ex[b]->ids.begin(), ex[b]->ids.end(), ids.begin() + static_cast<int64_t>(b) * T);
    std::copy(ex[b]->labels.begin(), ex[b]->labels.end(), labels.begin() + static_cast<int64_t>(b) * T);
    tokens += static_cast<int64_t>(ex[b]->ids.size());
  }
}

StepLog Trainer::train_step() {
  const auto t0 = std::chrono::steady_clock::now();
  StepLog log;
  model_.zero_grad();
  std::vector<int32_t> ids, labels;
  double loss = 0;
  for (int a = 0; a < args_.grad_accum; ++a) {
    int64_t T = 0, tokens = 0;
    make_batch(micro_, ids, labels, T, tokens);
    model_.set_dropout_seed(args_.seed ^ (static_cast<uint64_t>(micro_) * 0x2545F4914F6CDD1Dull));
    loss += model_.forward_backward(ids.data(), labels.data(), static_cast<int64_t>(ids.size()) / T, T,
                                    1.0f / static_cast<float>(args_.grad_accum));
    log.tokens += tokens;
    ++micro_;
  }
  const std::vector<Param*> params = model_.trainable();
  log.grad_norm = clip_grad_norm(params, args_.max_grad_norm);
  log.lr = lr_at(sched_, args_.learning_rate, step_, total_steps_, warmup_);
  opt_.step(params, log.lr);
  ++step_;
  log.step = step_;
  log.loss = loss / args_.grad_accum;
  log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  history_.push_back(log);
  return log;
}

void Trainer::train(const std::function<void(const StepLog&)>& on_step, int64_t stop_at) {
  const int64_t end = stop_at > 0 ? std::min(stop_at, total_steps_) : total_steps_;
  while (step_ < end) {
    StepLog l = train_step();
    if (on_step) on_step(l);
    if (args_.save_steps > 0 && step_ % args_.save_steps == 0 && step_ < total_steps_) save_checkpoint();
  }
  if (step_ == total_steps_ && stop_at <= 0) save_checkpoint();
}

std::string Trainer::save_checkpoint() {
  if (args_.output_dir.empty()) fail(ErrorKind::kInvalidArgument, "output_dir is not set");
  fs::create_directories(args_.output_dir);
  const std::string final_dir = args_.output_dir + "/checkpoint-" + std::to_string(step_);
  const std::string tmp = final_dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  if (model_.lora_enabled()) write_lora_adapter(model_, tmp, args_.source_dir);
  else write_model_files(model_, tmp, args_.source_dir);
  if (!args_.tokenizer_dir.empty()) copy_tokenizer_files(args_.tokenizer_dir, tmp);
  // Optimizer moments by param name, then the trainer position.
  std::vector<std::pair<std::string, TensorView>> st;
  const std::vector<Param*> params = model_.trainable();
  if (opt_.exp_avg().size() == params.size()) {
    for (size_t i = 0; i < params.size(); ++i) {
      st.emplace_back("exp_avg." + params[i]->name, opt_.exp_avg()[i].view());
      st.emplace_back("exp_avg_sq." + params[i]->name, opt_.exp_avg_sq()[i].view());
    }
  }
  write_safetensors(tmp + "/optimizer.safetensors", st);
  nlohmann::json hist = nlohmann::json::array();
  for (const StepLog& l : history_)
    hist.push_back({{"step", l.step}, {"loss", l.loss}, {"grad_norm", l.grad_norm}, {"learning_rate", l.lr}});
  nlohmann::json state = {{"global_step", step_},      {"micro_batches", micro_}, {"adam_step", opt_.steps()},
                          {"max_steps", total_steps_}, {"seed", args_.seed},      {"log_history", hist}};
  write_file_atomic(tmp + "/trainer_state.json", state.dump(2) + "\n");
  write_loss_svg(history_, tmp + "/loss_curve.svg");
  commit_dir(tmp, final_dir);
  return final_dir;
}

void Trainer::resume(const std::string& dir) {
  const std::string state_path = dir + "/trainer_state.json";
  nlohmann::json st;
  try {
    st = nlohmann::json::parse(read_file(state_path));
    step_ = st.at("global_step").get<int64_t>();
    micro_ = st.at("micro_batches").get<int64_t>();
    opt_.set_steps(st.at("adam_step").get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, state_path, ": ", e.what());
  }
  // Weights: the adapter, or the full model read back through the family loader (f32, exact).
  if (model_.lora_enabled()) {
    auto f = SafetensorsFile::open(dir + "/adapter_model.safetensors");
    for (Param& p : model_.lora_params()) {
      TensorView v = f->get("base_model.model." + p.name);
      if (v.numel() != p.numel()) fail(ErrorKind::kFormat, f->path(), ": ", p.name, ": wrong shape");
      std::memcpy(p.v(), v.data, static_cast<size_t>(p.numel()) * sizeof(float));
    }
  } else {
    LoadOptions o;
    o.weights = LoadOptions::WeightDType::kF32;
    auto m = Model::load(dir, o);
    ModelWeights w = m->weights();
    w.for_each([&](const std::string& name, TensorView& v) {
      Param* p = model_.find(name);
      if (!p || v.empty()) return;
      std::vector<float> f = v.to_f32();
      if (static_cast<int64_t>(f.size()) != p->numel()) fail(ErrorKind::kFormat, dir, ": ", name, ": wrong shape");
      std::memcpy(p->v(), f.data(), f.size() * sizeof(float));
    });
  }
  auto of = SafetensorsFile::open(dir + "/optimizer.safetensors");
  const std::vector<Param*> params = model_.trainable();
  opt_.exp_avg().clear(), opt_.exp_avg_sq().clear();
  for (Param* p : params) {
    opt_.exp_avg().push_back(Tensor::from_view(of->get("exp_avg." + p->name)));
    opt_.exp_avg_sq().push_back(Tensor::from_view(of->get("exp_avg_sq." + p->name)));
  }
  history_.clear();
  for (const auto& h : st.value("log_history", nlohmann::json::array()))
    history_.push_back(StepLog{h.value("step", int64_t{0}), h.value("loss", 0.0), h.value("grad_norm", 0.0),
                               h.value("learning_rate", 0.0), 0, 0});
}

std::string latest_checkpoint(const std::string& output_dir) {
  std::string best;
  int64_t best_step = -1;
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return best;
  for (const auto& e : fs::directory_iterator(output_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("checkpoint-", 0) != 0 || !e.is_directory()) continue;
    const std::string num = n.substr(11);
    if (num.empty() || !std::all_of(num.begin(), num.end(), ::isdigit)) continue;  // skips *.tmp / *.old
    if (!fs::exists(e.path() / "trainer_state.json")) continue;
    const int64_t s = std::stoll(num);
    if (s > best_step) best_step = s, best = e.path().string();
  }
  return best;
}

}  // namespace dm
