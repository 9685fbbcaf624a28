// Fused sparse backward + optimizer step for one table on the CPU, FBGEMM "exact" style: the
// gradient of the pooled output is scattered to (row, sample) occurrences across every feature that
// reads the table, the occurrences are grouped by row (CSR -> CSC, as FBGEMM's csr2csc), each unique
// row's gradient is summed once, and the optimizer updates that row once. No dense gradient of the
// table is ever built. Unique rows are split across threads, so no locks are needed. Threads come
// from kernels::fork_join (libtorch's OpenMP team), never from at::parallel_for, which this build
// compiles serial (see cpu_parallel.h).
// Inputs are trusted: callers validate ids, offsets and gradient values first.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

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
};

// Called once per unique touched row, possibly from several threads at once (never the same row):
// `w` is the row in fp32 (updated in place; fp16 rows are widened before and rounded once after),
// `g` its aggregated gradient, `scratch` dim floats of per-thread scratch.
using RowUpdate = std::function<void(int64_t row, float* w, const float* g, float* scratch)>;
// Called a few rows ahead of `update` so the row's optimizer state is on its way from memory when
// the update needs it (touched rows are scattered across tables far bigger than the caches).
using RowPrefetch = std::function<void(int64_t row)>;

// One table's occurrences grouped by row: everything a step needs, built before any row moves so
// that a step which cannot allocate fails with the table untouched. Occurrence arrays are in row
// order (a stable sort of the CSR walk), so each row's gradient is summed in a fixed order whatever
// the thread count.
struct RowGroups {
  std::vector<int64_t> unique_row;   // per segment: the row it updates, increasing
  std::vector<int64_t> seg_start;    // segment s owns occurrences seg_start[s] .. seg_start[s+1]
  std::vector<int64_t> grad_offset;  // per occurrence: b * grad_width + the feature's column
  std::vector<float> scale;          // per occurrence: per-value weight * (1/L for MEAN)
  int64_t unique_rows() const { return static_cast<int64_t>(unique_row.size()); }
};

// Groups every table's occurrences, tables spread across `threads` threads (the caller's included).
std::vector<RowGroups> group_rows(const std::vector<BackwardTable>& tables, const BackwardBatch& batch, int threads);

// Sums each unique row's gradient and calls `update` once per row, rows split across `threads`
// threads by their work (occurrences and row updates), so one hot row or one huge table still keeps
// every thread busy.
void apply_row_updates(const BackwardTable& table, const BackwardBatch& batch, const RowGroups& groups,
                       const RowUpdate& update, const RowPrefetch& prefetch_state, int threads);

// Index of the first non-finite value among n, if any.
std::optional<int64_t> find_non_finite(const float* values, int64_t n);

}  // namespace torchrec::kernels
