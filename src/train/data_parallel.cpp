// ZeRO stages 0-2 over MPI collectives, one param at a time (each param is its own bucket: its layer's
// params are sent together as soon as that layer's backward ends).
#include "devops_model/train/data_parallel.h"

#include <cctype>
#include <cmath>
#include <cstring>

#include <sys/mman.h>
#include <unistd.h>

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"

namespace dm {

int layer_of_param(const std::string& name) {
  static const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return -1;
  int l = 0;
  size_t k = prefix.size();
  if (k >= name.size() || !std::isdigit(static_cast<unsigned char>(name[k]))) return -1;
  for (; k < name.size() && std::isdigit(static_cast<unsigned char>(name[k])); ++k) l = l * 10 + (name[k] - '0');
  return l;
}

DataParallel::DataParallel(ProcessGroup& group, int zero_stage, std::vector<Param*> params)
    : group_(group), stage_(zero_stage), params_(std::move(params)) {
  if (stage_ < 0 || stage_ > 2) fail(ErrorKind::kInvalidArgument, "zero_stage must be 0, 1 or 2 (got ", stage_, ")");
  for (Param* p : params_) {
    layer_of_.push_back(layer_of_param(p->name));
    if (shards_state()) {
      const std::vector<int64_t> counts = piece_counts(p->numel(), group_.size());
      const int64_t off = piece_offset(counts, group_.rank());
      owned_.push_back({off, off + counts[static_cast<size_t>(group_.rank())]});
    } else {
      owned_.push_back({0, p->numel()});
    }
  }
  started_.assign(params_.size(), false);
}

namespace {

// p[0, n) reads as zeros afterwards. The whole pages inside go back to the system (MADV_DONTNEED on the
// heap's private anonymous memory: the next touch maps a fresh zero page); the partial pages at the ends,
// which other allocations may share, are cleared instead.
void release_zeroed(float* p, int64_t n) {
  if (n <= 0) return;
  static const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto b = reinterpret_cast<uintptr_t>(p), e = b + static_cast<uintptr_t>(n) * sizeof(float);
  const uintptr_t ab = (b + page - 1) / page * page, ae = e / page * page;
  if (ae <= ab) {
    std::memset(p, 0, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  std::memset(p, 0, ab - b);
  std::memset(reinterpret_cast<void*>(ae), 0, e - ae);
  if (madvise(reinterpret_cast<void*>(ab), ae - ab, MADV_DONTNEED) != 0)
    std::memset(reinterpret_cast<void*>(ab), 0, ae - ab);
}

}  // namespace

void DataParallel::zero_grads() {
  for (size_t i = 0; i < params_.size(); ++i) {
    // Stage 2: the rest is zero already (released when the last step's pieces arrived, or never written).
    const ParamRange r = shards_grads() ? owned_[i] : ParamRange{0, params_[i]->numel()};
    clear_parallel(params_[i]->g() + r.begin, r.size());
  }
}

void DataParallel::begin_micro_batch(int index, int count) {
  micro_index_ = index, micro_count_ = count;
  if (shards_grads() && count > 1 && acc_.empty())
    for (const ParamRange& r : owned_) acc_.emplace_back(static_cast<size_t>(r.size()));
}

bool DataParallel::reduces_this_micro_batch() const {
  return group_.size() > 1 && (micro_index_ + 1 == micro_count_ || shards_grads());
}

void DataParallel::start(size_t i) {
  started_[i] = true;
  Param& p = *params_[i];
  if (stage_ == 2) group_.start_reduce_scatter_sum(p.g(), piece_counts(p.numel(), group_.size()), [this, i] { absorb(i); });
  else group_.start_allreduce_sum(p.g(), p.numel());
}

// The piece (sum over ranks of this micro-batch's gradient) is at its offset: with one micro-batch per step
// it stays there and the rest is released; with several it is added to the step's sum and all is released
// (the next micro-batch's backward accumulates into zeros again).
void DataParallel::absorb(size_t i) {
  Param& p = *params_[i];
  const ParamRange r = owned_[i];
  float* g = p.g();
  if (micro_count_ == 1) {
    release_zeroed(g, r.begin);
    release_zeroed(g + r.end, p.numel() - r.end);
    return;
  }
  float* acc = acc_[i].data();
  if (micro_index_ == 0) std::memcpy(acc, g + r.begin, static_cast<size_t>(r.size()) * sizeof(float));
  else
    for (int64_t k = 0; k < r.size(); ++k) acc[k] += g[r.begin + k];
  release_zeroed(g, p.numel());
}

void DataParallel::start_layer(int layer) {
  if (group_.size() == 1) return;
  for (size_t i = 0; i < params_.size(); ++i)
    if (layer_of_[i] == layer && !started_[i]) start(i);
  group_.poke();  // lets the transfers started so far advance before the next layer's backward
}

void DataParallel::end_micro_batch() {
  if (!shards_grads()) return;
  for (size_t i = 0; i < params_.size(); ++i)
    if (!started_[i]) start(i);
  group_.finish_all();
  started_.assign(params_.size(), false);
}

void DataParallel::finish_gradients() {
  if (group_.size() > 1) {
    for (size_t i = 0; i < params_.size(); ++i)
      if (!started_[i]) start(i);
    group_.finish_all();
  }
  started_.assign(params_.size(), false);
  if (shards_grads() && micro_count_ > 1)  // the step's sums back where clipping and the update read them
    for (size_t i = 0; i < params_.size(); ++i)
      std::memcpy(params_[i]->g() + owned_[i].begin, acc_[i].data(), acc_[i].size() * sizeof(float));
}

double DataParallel::clip(double max_norm) {
  // Stage 2 holds only its pieces' sums: each rank sums its squares and the totals are added up.
  double sq = grad_square_sum(params_, stage_ == 2 ? owned_ : whole_ranges(params_));
  if (stage_ == 2) group_.allreduce_sum(&sq, 1);
  const double norm = std::sqrt(sq);
  const double coef = clip_coefficient(norm, max_norm);
  if (coef < 1.0) scale_grads(params_, owned_, static_cast<float>(coef));
  return norm;
}

void DataParallel::gather_params() {
  if (!shards_state()) return;
  for (Param* p : params_) group_.allgather(p->v(), piece_counts(p->numel(), group_.size()));
}

void DataParallel::gather_to_root(size_t i, const float* piece, float* full) {
  const int64_t n = params_[i]->numel();
  if (!shards_state()) {
    if (group_.is_root()) std::memcpy(full, piece, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  group_.gather_to_root(piece, full, piece_counts(n, group_.size()));
}

double DataParallel::bytes_sent_per_step(int micro_batches) const {
  const double N = group_.size();
  if (N == 1) return 0.0;
  double elems = 0;
  for (Param* p : params_) elems += static_cast<double>(p->numel());
  const double part = (N - 1) / N * elems * sizeof(float);
  if (stage_ == 0) return 2 * part;  // all-reduce of the gradients
  if (stage_ == 1) return 3 * part;  // all-reduce of the gradients, all-gather of the weights
  return (micro_batches + 1) * part;  // a reduce-scatter of each micro-batch's gradients, all-gather of the weights
}

double DataParallel::kept_gradient_elements(int micro_batches) const {
  double all = 0, owned = 0;
  for (size_t i = 0; i < params_.size(); ++i)
    all += static_cast<double>(params_[i]->numel()), owned += static_cast<double>(owned_[i].size());
  if (!shards_grads()) return all;
  return micro_batches > 1 ? 2 * owned : owned;
}

}  // namespace dm
