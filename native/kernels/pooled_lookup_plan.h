// Internal to the pooled lookup kernel family (pooled_lookup_cpu.cc, pooled_lookup_avx2.cc): the
// per-call plan both row-accumulation paths read, and the software prefetch they share.
#pragma once

#include <atomic>
#include <cstdint>

#include "kernels/pooled_lookup_cpu.h"

namespace torchrec::kernels::detail {

// One output block, with everything a bag needs precomputed.
struct FeaturePlan {
  const uint8_t* rows = nullptr;     // table base
  int64_t row_bytes = 0;             // dim * element size
  int64_t dim = 0;                   // elements per row
  const int64_t* offsets = nullptr;  // this key's B + 1 offsets (into the KJT's values)
  float* out = nullptr;              // column `out_column` of output row 0
  bool half = false;
  bool round_half = true;  // PooledFeature::round_half
  bool mean = false;
  int aligned_lines = 0;  // rows are whole cache lines (base and row_bytes multiples of 64): lines per row
  IdRemap remap;          // PooledFeature::remap
  int64_t num_rows = 0;   // for PooledBatch::check_ids
};

// Bags are numbered feature-major: bag i is sample i % batch of feature i / batch.
struct LookupPlan {
  const FeaturePlan* features = nullptr;
  int64_t num_features = 0;
  int64_t batch = 0;
  int64_t out_width = 0;
  const void* ids = nullptr;
  bool ids_int64 = true;
  const float* weights = nullptr;             // per-value weights, or null
  int prefetch_rows = 0;                      // software prefetch distance in rows; 0: none (tables that fit in cache)
  std::atomic<bool>* remap_failed = nullptr;  // set when a remapped run could not get its row buffer
  std::atomic<bool>* bad_id = nullptr;        // PooledBatch::check_ids: set when a run had an id out of range
};

// PooledBatch::check_ids's rule, for the checked pooling loops: `id` is not a row of `f`'s table
// (negative ids wrap to huge unsigned values, so one compare covers both ends).
template <typename Id>
__attribute__((always_inline)) inline bool id_out_of_range(const FeaturePlan& f, Id id) {
  return static_cast<uint64_t>(static_cast<int64_t>(id)) >= static_cast<uint64_t>(f.num_rows);
}

// Pools bags [begin, end) of `plan` into their output rows; one path per instruction set. The checked
// paths also check each id against its table as they read it: at the first one outside, they set
// plan.bad_id and stop, without reading its row.
void run_bags_portable(const LookupPlan& plan, int64_t begin, int64_t end);
void run_bags_avx2(const LookupPlan& plan, int64_t begin, int64_t end);
void run_bags_checked_portable(const LookupPlan& plan, int64_t begin, int64_t end);
void run_bags_checked_avx2(const LookupPlan& plan, int64_t begin, int64_t end);
using RunBags = void (*)(const LookupPlan&, int64_t, int64_t);
// Bags [begin, end) of a plan with remapped features (pooled_lookup_remap.cc): those go through their
// remap a run at a time, then `pool`; the others straight to `pool`.
void run_bags_remapped(const LookupPlan& plan, int64_t begin, int64_t end, RunBags pool);

// find_out_of_range on [begin, end) of the ids: the first position whose id is outside [0, num_rows), or -1.
int64_t first_bad_id_portable(const void* ids, bool ids_int64, int64_t begin, int64_t end, int64_t num_rows);
int64_t first_bad_id_avx2(const void* ids, bool ids_int64, int64_t begin, int64_t end, int64_t num_rows);

// Software prefetch of rows `plan.prefetch_rows` ahead, within a run of one feature's bags (whose ids
// are contiguous in the KJT's values): every cache line of the row is requested. Header-only and
// always inlined into each path, so every instruction set gets its own copy. Rows of whole cache lines
// (D = 16/32/64/128 fp32, 32/64/128/256 fp16) take an unrolled path: the general line loop measured
// slower on a memory-bound forward (bench/results/design-measurements.md).
template <typename Id>
__attribute__((always_inline)) inline void prefetch_row(const FeaturePlan& f, const Id* ids, int64_t at) {
  const uintptr_t row = reinterpret_cast<uintptr_t>(f.rows) + static_cast<uintptr_t>(ids[at]) * f.row_bytes;
  const char* p = reinterpret_cast<const char*>(row);
  switch (f.aligned_lines) {
    case 1: __builtin_prefetch(p, 0, 3); return;
    case 2:
      __builtin_prefetch(p, 0, 3);
      __builtin_prefetch(p + 64, 0, 3);
      return;
    case 4:
      for (int k = 0; k < 4; ++k) __builtin_prefetch(p + 64 * k, 0, 3);
      return;
    case 8:
      for (int k = 0; k < 8; ++k) __builtin_prefetch(p + 64 * k, 0, 3);
      return;
    default: break;
  }
  const uintptr_t last = (row + f.row_bytes - 1) & ~uintptr_t{63};
  for (uintptr_t line = row & ~uintptr_t{63}; line <= last; line += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(line), 0, 3);
  }
}

}  // namespace torchrec::kernels::detail
