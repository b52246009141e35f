// ZeRO stages 0-2 over MPI collectives, one param at a time (each param is its own bucket: its layer's
// params are sent together as soon as that layer's backward ends).
#include "devops_model/train/data_parallel.h"

#include <cctype>
#include <cmath>
#include <cstring>

#include "devops_model/core/error.h"

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

void DataParallel::start(size_t i) {
  started_[i] = true;
  Param& p = *params_[i];
  if (stage_ == 2) group_.start_reduce_scatter_sum(p.g(), piece_counts(p.numel(), group_.size()));
  else group_.start_allreduce_sum(p.g(), p.numel());
}

void DataParallel::start_layer(int layer) {
  if (group_.size() == 1) return;
  for (size_t i = 0; i < params_.size(); ++i)
    if (layer_of_[i] == layer && !started_[i]) start(i);
  group_.poke();  // lets the transfers started so far advance before the next layer's backward
}

void DataParallel::finish_gradients() {
  if (group_.size() > 1) {
    for (size_t i = 0; i < params_.size(); ++i)
      if (!started_[i]) start(i);
    group_.finish_all();
  }
  started_.assign(params_.size(), false);
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

double DataParallel::bytes_sent_per_step() const {
  const double N = group_.size();
  if (N == 1) return 0.0;
  double elems = 0;
  for (Param* p : params_) elems += static_cast<double>(p->numel());
  const double part = (N - 1) / N * elems * sizeof(float);
  if (stage_ == 0) return 2 * part;  // all-reduce of the gradients
  if (stage_ == 1) return 3 * part;  // all-reduce of the gradients, all-gather of the weights
  return 2 * part;                   // reduce-scatter of the gradients, all-gather of the weights
}

}  // namespace dm
