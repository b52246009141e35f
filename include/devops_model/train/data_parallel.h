// Data parallelism with ZeRO-style sharding (DeepSpeed's stages), over a ProcessGroup:
//   stage 0: gradients all-reduced, every rank keeps all AdamW moments and updates every weight (DDP);
//   stage 1: gradients all-reduced, each rank keeps the moments of its piece of every param, updates that
//            piece and the pieces are all-gathered;
//   stage 2: as 1, but gradients are reduce-scattered after every micro-batch: each rank receives only its
//            piece's sum and keeps only that (summed over the step's micro-batches); the rest of each
//            gradient's pages go back to the system as soon as its piece has arrived, so whole gradients
//            exist only for the layers whose reductions are in flight.
// Piece r of a param of n elements is [n*r/N, n*(r+1)/N) (piece_counts), so the cut depends only on the
// param and the rank count, and a checkpoint's full tensors re-cut for any N. Each param's reduction starts
// as soon as its layer's backward is done (TrainModel::set_on_layer_grads) and overlaps the layers below.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "devops_model/train/optimizer.h"
#include "devops_model/train/process_group.h"
#include "devops_model/train/train_model.h"

namespace dm {

class DataParallel {
 public:
  // Error(kInvalidArgument) for a stage other than 0, 1 or 2.
  DataParallel(ProcessGroup& group, int zero_stage, std::vector<Param*> params);

  ProcessGroup& group() { return group_; }
  int ranks() const { return group_.size(); }
  int zero_stage() const { return stage_; }
  // The range of each param this rank updates and keeps optimizer state for (all of it at stage 0).
  const std::vector<ParamRange>& owned() const { return owned_; }
  bool shards_state() const { return stage_ >= 1 && group_.size() > 1; }

  // Stage 2 over several ranks: gradients sharded (see above).
  bool shards_grads() const { return stage_ == 2 && group_.size() > 1; }
  // Before a step's first backward: every gradient zero.
  void zero_grads();
  // Before micro-batch `index` of the step's `count`.
  void begin_micro_batch(int index, int count);
  // Whether this micro-batch's gradients are sent as its backward ends each layer (the step's last one, or
  // every one at stage 2); the caller then hooks start_layer to the backward.
  bool reduces_this_micro_batch() const;
  // Starts summing layer `layer`'s gradients over the ranks (call when they are final); other params
  // wait for end_micro_batch / finish_gradients.
  void start_layer(int layer);
  // After a micro-batch's backward that is not the step's last: at stage 2, its reductions finish here.
  void end_micro_batch();
  // Starts every reduction not yet started and waits for all: afterwards the owned ranges (stage 2) or
  // the whole gradients (stages 0, 1) hold the sums over ranks.
  void finish_gradients();
  // Global L2 norm of the summed gradients and torch's clipping by max_norm (<= 0: none). Same on all ranks.
  double clip(double max_norm);
  // After the update of the owned ranges (stages 1, 2): every rank gets every piece.
  void gather_params();
  // Optimizer state of param i for a checkpoint: `piece` (this rank's owned range) lands whole in `full`
  // (numel elements) on rank 0. At stage 0 (not sharded) the piece is the whole tensor.
  void gather_to_root(size_t i, const float* piece, float* full);

  // Bytes this rank hands to MPI per optimizer step for gradients and weights, by the ring algorithms'
  // counts (all-reduce 2(N-1)/N, reduce-scatter and all-gather (N-1)/N of the data each), with
  // `micro_batches` per step (stage 2 reduces each one).
  double bytes_sent_per_step(int micro_batches) const;
  // Gradient elements this rank keeps between steps (stage 2: its pieces, twice with accumulation).
  double kept_gradient_elements(int micro_batches) const;

 private:
  void start(size_t i);
  void absorb(size_t i);  // stage 2: param i's piece has arrived
  int micro_index_ = 0, micro_count_ = 1;
  std::vector<std::vector<float>> acc_;  // stage 2 with accumulation: each owned piece summed over micro-batches
  ProcessGroup& group_;
  int stage_;
  std::vector<Param*> params_;
  std::vector<int> layer_of_;  // decoder layer of each param (-1: embedding, final norm, head)
  std::vector<ParamRange> owned_;
  std::vector<bool> started_;
};

// The decoder layer a param belongs to by its name ("model.layers.<l>."), -1 when none.
int layer_of_param(const std::string& name);

}  // namespace dm
