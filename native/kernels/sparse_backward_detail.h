// Between the CPU backward's driver (sparse_backward_cpu.cc: grouping, thread split, ISA choice) and
// its row loop, which is compiled once per instruction set (sparse_backward_rows.h, instantiated by
// sparse_backward_cpu.cc, sparse_backward_avx2.cc and sparse_backward_avx512.cc).
#pragma once

#include <cstdint>

#include "kernels/row_rule.h"
#include "kernels/stochastic_rounding.h"

namespace torchrec::kernels::detail {

// One table's step as the row loop sees it: its rows, its occurrences grouped by row (RowGroups),
// the pooled output's gradient and the optimizer's rule.
struct RowJob {
  void* rows = nullptr;  // [num_rows][dim] float or c10::Half
  bool half = false;
  const StochasticRounding* rounding = nullptr;  // fp16 rows: null rounds to nearest
  int64_t dim = 0;
  const float* grad = nullptr;
  const int64_t* unique_row = nullptr;
  const int64_t* seg_start = nullptr;
  const int64_t* grad_offset = nullptr;
  const float* scale = nullptr;
  RowRule rule;
};

// Rows a thread's row loop sums the gradients of before it updates them (sparse_backward_rows.h).
constexpr int64_t kRowBlock = 64;

// Sums the gradient of segments [first, last) of `job` and updates their rows; `buffers` holds the
// calling thread's (kRowBlock + 2) * dim floats. Every variant gives the same bits.
using UpdateRows = void (*)(const RowJob& job, int64_t first, int64_t last, float* buffers);
void update_rows_portable(const RowJob& job, int64_t first, int64_t last, float* buffers);
void update_rows_avx2(const RowJob& job, int64_t first, int64_t last, float* buffers);
void update_rows_avx512(const RowJob& job, int64_t first, int64_t last, float* buffers);

}  // namespace torchrec::kernels::detail
