// ProcessGroup over OpenMPI (any MPI): MPI is initialised only when a launcher started the process, so a
// plain `devops-model train` never loads a transport or waits on a runtime.
#include "devops_model/train/process_group.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "devops_model/core/error.h"

namespace dm {

// One in-flight operation; reduce-scatter results arrive at the buffer's start and move to their piece.
struct ProcessGroup::Pending {
  MPI_Request request = MPI_REQUEST_NULL;
  float* data = nullptr;
  int64_t offset = 0, count = 0;
  std::function<void()> on_done;
  bool done = false;
};

namespace {

int checked_int(int64_t n, const char* what) {
  if (n < 0 || n > INT_MAX)
    fail(ErrorKind::kInvalidArgument, what, ": ", n, " elements in one piece exceed MPI's int count");
  return static_cast<int>(n);
}

// MPI wants int counts and displacements.
void int_counts(const std::vector<int64_t>& counts, std::vector<int>& c, std::vector<int>& displs) {
  c.clear(), displs.clear();
  int64_t off = 0;
  for (int64_t n : counts) {
    c.push_back(checked_int(n, "collective"));
    displs.push_back(checked_int(off, "collective offset"));
    off += n;
  }
}

bool g_world_started = false;  // world() was asked for (so an abort may reach MPI)

constexpr int64_t kMaxChunk = int64_t{1} << 30;  // allreduce in pieces MPI's int count can hold

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

std::vector<int64_t> piece_counts(int64_t n, int parts) {
  std::vector<int64_t> c(static_cast<size_t>(parts));
  for (int r = 0; r < parts; ++r) c[static_cast<size_t>(r)] = n * (r + 1) / parts - n * r / parts;
  return c;
}

int64_t piece_offset(const std::vector<int64_t>& counts, int rank) {
  int64_t off = 0;
  for (int r = 0; r < rank; ++r) off += counts[static_cast<size_t>(r)];
  return off;
}

ProcessGroup::ProcessGroup(bool use_mpi) : mpi_(use_mpi) {
  if (!mpi_) return;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    fail(ErrorKind::kIo, "MPI_Init_thread failed");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

ProcessGroup::~ProcessGroup() {
  if (!mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

ProcessGroup& ProcessGroup::world() {
  static ProcessGroup g(launched_by_mpi());
  g_world_started = true;
  return g;
}

ProcessGroup& ProcessGroup::single() {
  static ProcessGroup g(false);
  return g;
}

void ProcessGroup::allreduce_sum(float* data, int64_t n) {
  if (size_ == 1) return;
  for (int64_t i = 0; i < n; i += kMaxChunk)
    MPI_Allreduce(MPI_IN_PLACE, data + i, static_cast<int>(std::min(kMaxChunk, n - i)), MPI_FLOAT, MPI_SUM,
                  MPI_COMM_WORLD);
}

void ProcessGroup::allreduce_sum(double* data, int64_t n) {
  if (size_ == 1) return;
  for (int64_t i = 0; i < n; i += kMaxChunk)
    MPI_Allreduce(MPI_IN_PLACE, data + i, static_cast<int>(std::min(kMaxChunk, n - i)), MPI_DOUBLE, MPI_SUM,
                  MPI_COMM_WORLD);
}

void ProcessGroup::reduce_scatter_sum(float* data, const std::vector<int64_t>& counts) {
  if (size_ == 1) return;
  start_reduce_scatter_sum(data, counts);
  finish_all();
}

void ProcessGroup::allgather(float* data, const std::vector<int64_t>& counts) {
  if (size_ == 1) return;
  std::vector<int> c, displs;
  int_counts(counts, c, displs);
  MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, c.data(), displs.data(), MPI_FLOAT, MPI_COMM_WORLD);
}

void ProcessGroup::gather_to_root(const float* piece, float* full, const std::vector<int64_t>& counts) {
  const size_t r = static_cast<size_t>(rank_);
  if (size_ == 1) {
    if (full != piece) std::memcpy(full, piece, static_cast<size_t>(counts[0]) * sizeof(float));
    return;
  }
  std::vector<int> c, displs;
  int_counts(counts, c, displs);
  MPI_Gatherv(piece, c[r], MPI_FLOAT, full, c.data(), displs.data(), MPI_FLOAT, 0, MPI_COMM_WORLD);
}

void ProcessGroup::barrier() {
  if (size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
}

void ProcessGroup::start_allreduce_sum(float* data, int64_t n) {
  if (size_ == 1) return;
  for (int64_t i = 0; i < n; i += kMaxChunk) {
    auto p = std::make_unique<Pending>();
    MPI_Iallreduce(MPI_IN_PLACE, data + i, static_cast<int>(std::min(kMaxChunk, n - i)), MPI_FLOAT, MPI_SUM,
                   MPI_COMM_WORLD, &p->request);
    pending_.push_back(std::move(p));
  }
}

void ProcessGroup::start_reduce_scatter_sum(float* data, const std::vector<int64_t>& counts,
                                            std::function<void()> on_done) {
  if (size_ == 1) return;
  std::vector<int> c, displs;
  int_counts(counts, c, displs);
  const size_t r = static_cast<size_t>(rank_);
  auto p = std::make_unique<Pending>(Pending{MPI_REQUEST_NULL, data, displs[r], c[r], std::move(on_done), false});
  // In place, MPI leaves this rank's piece at the start of the buffer; finish_all moves it to its offset.
  MPI_Ireduce_scatter(MPI_IN_PLACE, data, c.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &p->request);
  pending_.push_back(std::move(p));
}

// A finished request: a reduce-scatter's piece moves to its offset, then the caller's callback runs.
void ProcessGroup::complete(Pending& p) {
  p.done = true;
  if (p.data && p.offset > 0) std::memmove(p.data + p.offset, p.data, static_cast<size_t>(p.count) * sizeof(float));
  if (p.on_done) p.on_done();
}

void ProcessGroup::poke() {
  for (auto& p : pending_) {
    if (p->done) continue;
    int done = 0;
    MPI_Test(&p->request, &done, MPI_STATUS_IGNORE);
    if (done) complete(*p);
  }
}

void ProcessGroup::finish_all() {
  for (auto& p : pending_) {
    if (p->done) continue;
    MPI_Wait(&p->request, MPI_STATUS_IGNORE);
    complete(*p);
  }
  pending_.clear();
}

void abort_distributed_job(int exit_code) {
  if (!g_world_started) return;
  const ProcessGroup& g = ProcessGroup::world();
  if (g.size() == 1) return;
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
}

}  // namespace dm
