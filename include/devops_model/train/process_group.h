// The ranks of a data-parallel training job: MPI_COMM_WORLD when an MPI launcher (mpirun, srun, any PMI/PMIx
// launcher) started this process, else a group of one that never touches MPI. Only the thread that created
// the group calls it (MPI_THREAD_FUNNELED); every collective is called by every rank in the same order.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace dm {

class ProcessGroup {
 public:
  // The job's group, initialising MPI on first use when launched by an MPI launcher; MPI is finalised at exit.
  static ProcessGroup& world();
  // A group of one (tests, and programs that train in one process whatever their environment).
  static ProcessGroup& single();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // In place, every rank ends with the element-wise sum.
  void allreduce_sum(float* data, int64_t n);
  void allreduce_sum(double* data, int64_t n);
  // `data` holds this rank's full vector; afterwards data[offset(rank) .. + counts[rank]) holds the sum over
  // ranks of that piece (the rest is left undefined). counts has size() entries summing to the vector's length.
  void reduce_scatter_sum(float* data, const std::vector<int64_t>& counts);
  // In place: each rank's piece data[offset(r) .. + counts[r]) is copied to every rank.
  void allgather(float* data, const std::vector<int64_t>& counts);
  // The pieces (as allgather) land in `full` on rank 0 only; `full` is unused elsewhere (may be null).
  void gather_to_root(const float* piece, float* full, const std::vector<int64_t>& counts);
  void barrier();

  // Non-blocking sums for overlapping communication with computation: start, then finish_all() before the
  // data is read. Progress happens inside MPI calls: poke() lets pending ones advance between layers.
  void start_allreduce_sum(float* data, int64_t n);
  // on_done (optional) runs once the piece is in place, inside poke() or finish_all().
  void start_reduce_scatter_sum(float* data, const std::vector<int64_t>& counts, std::function<void()> on_done = {});
  void poke();
  void finish_all();

  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup();

 private:
  explicit ProcessGroup(bool use_mpi);
  bool mpi_ = false;
  int rank_ = 0, size_ = 1;
  struct Pending;  // an MPI request in flight (defined with mpi.h in the .cpp)
  void complete(Pending& p);
  std::vector<std::unique_ptr<Pending>> pending_;
};

// Ends every rank of the job with `exit_code` (MPI_Abort: the launcher stops the other ranks) when
// ProcessGroup::world() was started with several ranks; returns otherwise, and never starts MPI itself.
void abort_distributed_job(int exit_code);

// Whether an MPI launcher started this process (its environment names the job's size or this rank).
bool launched_by_mpi();

// The piece boundaries a vector of n elements is cut into for `parts` ranks: piece r is
// [n*r/parts, n*(r+1)/parts), so the cut depends only on n and parts.
std::vector<int64_t> piece_counts(int64_t n, int parts);
int64_t piece_offset(const std::vector<int64_t>& counts, int rank);

}  // namespace dm
