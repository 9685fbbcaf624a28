// Internal to the pooled lookup kernel family (pooled_lookup_cpu.cc, pooled_lookup_avx2.cc): the
// per-call plan both row-accumulation paths read, and the software prefetcher they share.
#pragma once

#include <cstdint>

namespace torchrec::kernels::detail {

// One output block, with everything a bag needs precomputed.
struct FeaturePlan {
  const uint8_t* rows = nullptr;    // table base
  int64_t row_bytes = 0;            // dim * element size
  int64_t dim = 0;                  // elements per row
  const int64_t* offsets = nullptr;  // this key's B + 1 offsets (into the KJT's values)
  float* out = nullptr;             // column `out_column` of output row 0
  bool half = false;
  bool mean = false;
};

// Bags are numbered feature-major: bag i is sample i % batch of feature i / batch.
struct LookupPlan {
  const FeaturePlan* features = nullptr;
  int64_t num_features = 0;
  int64_t batch = 0;
  int64_t out_width = 0;
  const void* ids = nullptr;
  bool ids_int64 = true;
  const float* weights = nullptr;  // per-value weights, or null
  int prefetch_rows = 0;           // software prefetch distance in rows; 0: none (tables that fit in cache)
};


// Pools bags [begin, end) of `plan` into their output rows; one path per instruction set.
void run_bags_portable(const LookupPlan& plan, int64_t begin, int64_t end);
void run_bags_avx2(const LookupPlan& plan, int64_t begin, int64_t end);

// find_out_of_range on [begin, end) of the ids: the first position whose id is outside [0, num_rows), or -1.
int64_t first_bad_id_portable(const void* ids, bool ids_int64, int64_t begin, int64_t end, int64_t num_rows);
int64_t first_bad_id_avx2(const void* ids, bool ids_int64, int64_t begin, int64_t end, int64_t num_rows);

}  // namespace torchrec::kernels::detail

// The prefetcher has internal linkage (an unnamed namespace) on purpose: each path compiles it with its
// own instruction set, and the linker must never merge the AVX2 copy into the portable one.
namespace torchrec::kernels::detail {
namespace {

// Walks the same (bag, id) sequence as the accumulation loop, `plan.prefetch_rows` rows ahead, across
// bag and feature boundaries, and requests every cache line of each row.
template <typename Id>
class RowPrefetcher {
 public:
  RowPrefetcher(const LookupPlan& plan, int64_t bag, int64_t end_bag)
      : plan_(plan), ids_(static_cast<const Id*>(plan.ids)), bags_left_(end_bag - bag) {
    const int64_t f = bag / plan.batch;
    feature_ = &plan.features[f];
    b_ = bag - f * plan.batch - 1;
    for (int i = 0; i < plan.prefetch_rows; ++i) step();
  }

  // Requests the next row of the sequence (nothing once it is exhausted).
  inline void step() {
    while (pos_ == end_) {
      if (bags_left_ == 0) return;
      --bags_left_;
      if (++b_ == plan_.batch) {
        b_ = 0;
        ++feature_;
      }
      pos_ = feature_->offsets[b_];
      end_ = feature_->offsets[b_ + 1];
    }
    const uintptr_t row =
        reinterpret_cast<uintptr_t>(feature_->rows) + static_cast<uintptr_t>(ids_[pos_]) * feature_->row_bytes;
    const uintptr_t last = (row + feature_->row_bytes - 1) & ~uintptr_t{63};
    for (uintptr_t line = row & ~uintptr_t{63}; line <= last; line += 64) {
      __builtin_prefetch(reinterpret_cast<const void*>(line), 0, 3);
    }
    ++pos_;
  }

 private:
  const LookupPlan& plan_;
  const Id* ids_;
  const FeaturePlan* feature_;
  int64_t b_;          // sample of the bag being walked
  int64_t bags_left_;  // bags not yet entered
  int64_t pos_ = 0;
  int64_t end_ = 0;
};

}  // namespace
}  // namespace torchrec::kernels::detail
