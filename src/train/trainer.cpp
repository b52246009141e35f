// The training loop: seeded data order, accumulation, clipping, AdamW, schedule, checkpoints, resume.
#include "devops_model/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <memory>
#include <random>

#include "devops_model/core/error.h"
#include "devops_model/core/hash.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/model/model.h"
#include "devops_model/train/checkpoint.h"

namespace fs = std::filesystem;

namespace dm {

namespace {

// What a resumed run must share with the run that wrote the checkpoint (trainer_state.json "run").
nlohmann::json run_identity(const TrainArgs& args, const std::vector<Example>& data, int64_t total_steps,
                            int ranks) {
  uint64_t h = 0;
  for (const Example& e : data) {
    h = hash64(e.ids.data(), e.ids.size() * sizeof(int32_t), h);
    h = hash64(e.labels.data(), e.labels.size() * sizeof(int32_t), h);
  }
  return {{"seed", args.seed},
          {"data_fingerprint", hex64(h)},
          {"examples", data.size()},
          {"per_device_train_batch_size", args.batch_size},
          {"micro_batches_per_step", args.grad_accum * ranks},
          {"shuffle", args.shuffle},
          {"max_steps", total_steps},
          {"learning_rate", args.learning_rate},
          {"lr_scheduler_type", args.lr_scheduler_type},
          {"warmup_ratio", args.warmup_ratio}};
}

// The data order depends on seed, data, batch size, accumulation and shuffling: resuming with another of
// these would not continue the same run, so it is refused. The schedule fields (max_steps, learning rate,
// scheduler, warmup) may change on purpose (e.g. to train longer): a warning says the run now differs
// from an uninterrupted one. A state without "run" (written before these checks) is not checked.
void check_same_run(nlohmann::json saved, const nlohmann::json& now, const std::string& state_path) {
  if (!saved.is_object()) return;
  // One-process checkpoints written before data parallelism named the step's micro-batches this way.
  if (!saved.contains("micro_batches_per_step") && saved.contains("gradient_accumulation_steps"))
    saved["micro_batches_per_step"] = saved["gradient_accumulation_steps"];
  std::string refused, warned;
  for (const auto& [key, value] : now.items()) {
    if (!saved.contains(key) || saved.at(key) == value) continue;
    const bool schedule =
        key == "max_steps" || key == "learning_rate" || key == "lr_scheduler_type" || key == "warmup_ratio";
    std::string& out = schedule ? warned : refused;
    out += (out.empty() ? "" : ", ") + key + " was " + saved.at(key).dump() + ", now " + value.dump();
  }
  if (!refused.empty())
    fail(ErrorKind::kInvalidArgument, state_path, ": this checkpoint belongs to another run (", refused,
         "); resume with the same seed, data, per_device_train_batch_size, shuffling and micro-batches per step"
         " (gradient_accumulation_steps x ranks), or start in a new output_dir");
  if (!warned.empty())
    std::fprintf(stderr, "warning: resuming with another schedule (%s): the run differs from an uninterrupted one\n",
                 warned.c_str());
}

}  // namespace

Trainer::Trainer(TrainArgs args, TrainModel& model, std::vector<Example> data, ProcessGroup& group)
    : args_(std::move(args)),
      model_(model),
      data_(std::move(data)),
      dp_(group, args_.zero_stage, model_.trainable()),
      opt_(
          AdamWConfig{args_.learning_rate, args_.adam_beta1, args_.adam_beta2, args_.adam_epsilon, args_.weight_decay}),
      sched_(parse_lr_schedule(args_.lr_scheduler_type)) {
  if (data_.empty()) fail(ErrorKind::kInvalidArgument, "training data is empty");
  if (args_.batch_size <= 0 || args_.grad_accum <= 0)
    fail(ErrorKind::kInvalidArgument, "batch size and gradient_accumulation_steps must be > 0");
  if (args_.max_steps == 0 || args_.max_steps < -1)
    fail(ErrorKind::kInvalidArgument, "max_steps must be > 0, or -1 to train for num_train_epochs (got ",
         args_.max_steps, ")");
  if (args_.max_steps == -1 && !(args_.num_train_epochs > 0 && args_.num_train_epochs <= 1e6))
    fail(ErrorKind::kInvalidArgument, "num_train_epochs must be in (0, 1e6] (got ", args_.num_train_epochs, ")");
  for (const Example& e : data_)
    if (e.ids.size() != e.labels.size() || e.ids.empty())
      fail(ErrorKind::kInvalidArgument, "example with ", e.ids.size(), " ids and ", e.labels.size(), " labels");
  batches_per_epoch_ = (static_cast<int64_t>(data_.size()) + args_.batch_size - 1) / args_.batch_size;
  const int64_t steps_per_epoch = std::max<int64_t>(1, batches_per_epoch_ / micro_batches_per_step());
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
  ProcessGroup& group = dp_.group();
  const int ranks = group.size();
  const int64_t per_step = micro_batches_per_step();
  StepLog log;
  dp_.zero_grads();
  std::vector<int32_t> ids, labels;
  double sums[2] = {0, 0};  // this rank's micro-batch losses, tokens
  for (int a = 0; a < args_.grad_accum; ++a) {
    const int64_t micro = micro_ + static_cast<int64_t>(a) * ranks + group.rank();  // the global micro-batch
    int64_t T = 0, tokens = 0;
    make_batch(micro, ids, labels, T, tokens);
    model_.set_dropout_seed(args_.seed ^ (static_cast<uint64_t>(micro) * 0x2545F4914F6CDD1Dull));
    // A reduced micro-batch's layer gradients are final as its backward passes them: send them right away.
    dp_.begin_micro_batch(a, args_.grad_accum);
    if (dp_.reduces_this_micro_batch()) model_.set_on_layer_grads([this](int l) { dp_.start_layer(l); });
    sums[0] += model_.forward_backward(ids.data(), labels.data(), static_cast<int64_t>(ids.size()) / T, T,
                                       1.0f / static_cast<float>(per_step));
    model_.set_on_layer_grads(nullptr);
    if (a + 1 < args_.grad_accum) dp_.end_micro_batch();
    sums[1] += static_cast<double>(tokens);
  }
  micro_ += per_step;
  dp_.finish_gradients();
  group.allreduce_sum(sums, 2);
  log.tokens = static_cast<int64_t>(sums[1]);
  log.grad_norm = dp_.clip(args_.max_grad_norm);
  log.lr = lr_at(sched_, args_.learning_rate, step_, total_steps_, warmup_);
  opt_.step(model_.trainable(), log.lr, &dp_.owned());
  dp_.gather_params();
  ++step_;
  log.step = step_;
  log.loss = sums[0] / static_cast<double>(per_step);
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
  const bool root = dp_.group().is_root();
  const std::string final_dir = args_.output_dir + "/checkpoint-" + std::to_string(step_);
  const std::string tmp = final_dir + ".tmp";
  if (root) {
    make_directories(args_.output_dir);
    std::error_code ec;
    fs::remove_all(tmp, ec);
    make_directories(tmp);
    if (model_.lora_enabled()) write_lora_adapter(model_, tmp, args_.source_dir);
    else write_model_files(model_, tmp, args_.source_dir);
    if (!args_.tokenizer_dir.empty()) copy_tokenizer_files(args_.tokenizer_dir, tmp);
  }
  // Optimizer moments by param name, whole tensors whatever the ranks' pieces, then the trainer position.
  // Gathered one tensor at a time and streamed to the file: rank 0 never holds more than one whole moment.
  const std::vector<Param*> params = model_.trainable();
  const bool have_moments = opt_.exp_avg().size() == params.size();
  std::unique_ptr<SafetensorsWriter> moments;
  if (root) {
    std::vector<SafetensorsWriter::Spec> specs;
    for (size_t i = 0; i < params.size() && have_moments; ++i)
      for (const char* prefix : {"exp_avg.", "exp_avg_sq."})
        specs.push_back({prefix + params[i]->name, DType::kF32, params[i]->value.shape()});
    moments = std::make_unique<SafetensorsWriter>(tmp + "/optimizer.safetensors", std::move(specs));
  }
  std::vector<float> whole;  // rank 0's room for one tensor
  for (size_t i = 0; i < params.size() && have_moments; ++i) {
    for (const bool second : {false, true}) {
      if (root) whole.resize(static_cast<size_t>(params[i]->numel()));
      dp_.gather_to_root(i, (second ? opt_.exp_avg_sq() : opt_.exp_avg())[i].f32(), root ? whole.data() : nullptr);
      if (root) moments->write_next(whole.data(), whole.size() * sizeof(float));
    }
  }
  if (root) {
    moments->commit();
    nlohmann::json hist = nlohmann::json::array();
    for (const StepLog& l : history_)
      hist.push_back({{"step", l.step}, {"loss", l.loss}, {"grad_norm", l.grad_norm}, {"learning_rate", l.lr}});
    nlohmann::json state = {{"global_step", step_},
                            {"micro_batches", micro_},
                            {"adam_step", opt_.steps()},
                            {"max_steps", total_steps_},
                            {"seed", args_.seed},
                            {"log_history", hist},
                            {"run", run_identity(args_, data_, total_steps_, dp_.ranks())}};
    write_file_atomic(tmp + "/trainer_state.json", state.dump(2) + "\n");
    write_loss_svg(history_, tmp + "/loss_curve.svg");
    commit_dir(tmp, final_dir);
  }
  dp_.group().barrier();  // no rank goes on (or reads it back) before the checkpoint is complete
  return final_dir;
}

void Trainer::resume(const std::string& dir) {
  const std::string state_path = dir + "/trainer_state.json";
  nlohmann::json st;
  try {
    st = nlohmann::json::parse(read_file(state_path));
    if (st.is_object())
      check_same_run(st.value("run", nlohmann::json()), run_identity(args_, data_, total_steps_, dp_.ranks()),
                     state_path);  // before changing anything
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
  // Moments: whole tensors in the file; each rank keeps its piece (re-cut for this run's rank count).
  auto of = SafetensorsFile::open(dir + "/optimizer.safetensors");
  const std::vector<Param*> params = model_.trainable();
  opt_.exp_avg().clear(), opt_.exp_avg_sq().clear();
  for (size_t i = 0; i < params.size(); ++i) {
    for (const bool second : {false, true}) {
      const std::string name = (second ? "exp_avg_sq." : "exp_avg.") + params[i]->name;
      const TensorView v = of->get(name);
      if (v.numel() != params[i]->numel() || v.dtype != DType::kF32)
        fail(ErrorKind::kFormat, of->path(), ": ", name, ": not f32 of ", params[i]->numel(), " elements");
      const ParamRange r = dp_.owned()[i];
      Tensor t = r.size() == v.numel() ? Tensor::from_view(v) : Tensor::zeros_f32({r.size()});
      if (r.size() != v.numel())
        std::memcpy(t.f32(), static_cast<const float*>(v.data) + r.begin, static_cast<size_t>(r.size()) * sizeof(float));
      (second ? opt_.exp_avg_sq() : opt_.exp_avg()).push_back(std::move(t));
    }
  }
  history_.clear();
  for (const auto& h : st.value("log_history", nlohmann::json::array()))
    history_.push_back(StepLog{h.value("step", int64_t{0}), h.value("loss", 0.0), h.value("grad_norm", 0.0),
                               h.value("learning_rate", 0.0), 0, 0});
}

std::vector<std::string> checkpoints_newest_first(const std::string& output_dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return {};
  for (const auto& e : fs::directory_iterator(output_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("checkpoint-", 0) != 0 || !e.is_directory()) continue;
    const std::string num = n.substr(11);
    if (num.empty() || num.size() > 18 || !std::all_of(num.begin(), num.end(), ::isdigit)) continue;  // *.tmp, *.old
    if (!fs::exists(e.path() / "trainer_state.json")) continue;
    found.emplace_back(std::stoll(num), e.path().string());
  }
  std::sort(found.begin(), found.end(), std::greater<>());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::string latest_checkpoint(const std::string& output_dir) {
  const std::vector<std::string> all = checkpoints_newest_first(output_dir);
  return all.empty() ? std::string() : all.front();
}

std::string resume_from_latest_good(Trainer& tr, const std::string& output_dir) {
  const std::vector<std::string> all = checkpoints_newest_first(output_dir);
  for (size_t i = 0; i < all.size(); ++i) {
    try {
      tr.resume(all[i]);
      return all[i];
    } catch (const Error& e) {
      // A damaged checkpoint (unreadable or malformed files); another run's checkpoint is not damage.
      if (e.kind() != ErrorKind::kFormat && e.kind() != ErrorKind::kIo) throw;
      if (i + 1 == all.size())
        fail(e.kind(), "no checkpoint in ", output_dir, " can be resumed; the oldest: ", e.what());
      std::fprintf(stderr, "warning: %s cannot be resumed (%s); falling back to %s\n", all[i].c_str(), e.what(),
                   all[i + 1].c_str());
    }
  }
  return "";
}

}  // namespace dm
