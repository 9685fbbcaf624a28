// Fused sparse backward + optimizer step for a collection's tables on the CPU, FBGEMM "exact" style: the
// gradient of the pooled output is scattered to (row, sample) occurrences across every feature that
// reads the table, the occurrences are grouped by row (CSR -> CSC, as FBGEMM's csr2csc), each unique
// row's gradient is summed once, and the optimizer updates that row once. No dense gradient of the
// table is ever built. Unique rows are split across threads, so no locks are needed. Threads come
// from kernels::fork_join (libtorch's OpenMP team), never from at::parallel_for, which this build
// compiles serial (see cpu_parallel.h).
// Inputs are trusted: callers validate ids, offsets and gradient values first.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/row_rule.h"
#include "kernels/stochastic_rounding.h"

namespace torchrec::kernels {

// A feature reading the table: its KJT key and where its block starts in the output gradient.
struct BackwardFeature {
  int64_t key = 0;
  int64_t grad_column = 0;
  bool mean = false;  // MEAN pooling: each occurrence carries 1/L; an empty bag passes nothing
};

struct BackwardBatch {
  const int64_t* offsets = nullptr;  // keys*B + 1 entries
  const void* ids = nullptr;
  bool ids_int64 = true;
  const float* per_value_weights = nullptr;  // null when unweighted
  int64_t batch = 0;                         // B
  const float* grad = nullptr;               // [B][grad_width], the pooled output's gradient
  int64_t grad_width = 0;
};

struct BackwardTable {
  void* rows = nullptr;  // [num_rows][dim], float or fp16 (c10::Half)
  bool half = false;
  // fp16 rows: FBGEMM's stochastic rounding with these bits (stochastic_rounding.h); null: to nearest.
  const StochasticRounding* rounding = nullptr;
  int64_t num_rows = 0;
  int64_t dim = 0;
  std::vector<BackwardFeature> features;
  RowRule rule;  // the optimizer step applied to each touched row (its state sized for num_rows x dim)
};

// sparse_backward's working memory, kept by the caller from one step to the next: it grows to the
// largest step seen and is reused, so a warmed-up step allocates nothing (fresh buffers cost page
// faults and zeroing on every step). One step at a time per workspace.
class BackwardWorkspace {
 public:
  BackwardWorkspace();
  ~BackwardWorkspace();
  BackwardWorkspace(const BackwardWorkspace&) = delete;
  BackwardWorkspace& operator=(const BackwardWorkspace&) = delete;
  struct Buffers;

 private:
  friend void sparse_backward(const std::vector<BackwardTable>&, const BackwardBatch&, BackwardWorkspace&, int);
  std::unique_ptr<Buffers> buffers_;
};

// The fused step for every table: each table's occurrences grouped by row (a stable sort of the CSR
// walk, so each row's gradient is summed in CSR order whatever the thread count), then each touched
// row's gradient summed and the table's rule applied to the row once. Tables are grouped, and their
// rows updated, on `threads` threads (the caller's included) taking chunks of equal work, so one hot
// row or one huge table still keeps every thread busy. Everything that can fail (allocation, a batch
// too big to group) happens before the first row moves.
void sparse_backward(const std::vector<BackwardTable>& tables, const BackwardBatch& batch, BackwardWorkspace& workspace,
                     int threads);

// The instruction set the row updates run with: "avx512" (AVX-512F/VL/BW/DQ), "avx2" (AVX2, FMA, F16C)
// or "portable", the best the CPU has. TORCHREC_CPU_KERNEL=portable|avx2|avx512 in the environment
// (read once) caps it, for tests; a CPU without the named set gets the best it has below it.
const char* sparse_backward_isa();

// Index of the first non-finite value among n, if any.
std::optional<int64_t> find_non_finite(const float* values, int64_t n);

}  // namespace torchrec::kernels
