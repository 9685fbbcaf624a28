// The pooled lookup of features whose ids are not row numbers yet (PooledFeature::remap, managed
// ids): each run of a feature's bags is mapped through its remap into a small per-thread buffer of
// rows, which the ordinary pooling path (AVX2 or portable) then pools. So an EVALUATE forward with
// managed ids writes no rewritten copy of the batch (that buffer's page faults cost more than its
// lookups at M), the lookups run on every intra-op thread with the pooling, and each bag sums the very
// rows, in the very order, that remap-then-pool would: the results are the same bits.
#include <algorithm>
#include <new>
#include <vector>

#include "kernels/pooled_lookup_plan.h"

namespace torchrec::kernels::detail {
namespace {

// A run is whole bags, at most kRunIds ids (unless one bag is longer) and kRunBags bags: its rows
// (32 KiB) stay in L1/L2 between the remap that writes them and the pooling that reads them, while a
// run is still long enough that the two pipelines' warm-ups (their first prefetches) are noise.
// (Prefetching each run's table rows from the remap, as it finds them, measured slower: its
// prefetches crowd out the map's.)
constexpr int64_t kRunIds = 4096;
constexpr int64_t kRunBags = 1024;

struct Scratch {
  std::vector<int64_t> rows;
  int64_t offsets[kRunBags + 1];
};

// One per thread, kept between calls: a forward allocates nothing once the buffers have grown.
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Bags [b0, b1) of remapped feature `f`.
void run_remapped_feature(const LookupPlan& plan, const FeaturePlan& f, int64_t b0, int64_t b1, RunBags pool) {
  Scratch& s = scratch();
  const size_t id_bytes = plan.ids_int64 ? sizeof(int64_t) : sizeof(int32_t);
  for (int64_t r0 = b0; r0 < b1;) {
    // The run: whole bags while they fit (always at least one).
    int64_t r1 = r0 + 1;
    const int64_t first = f.offsets[r0];
    while (r1 < b1 && r1 - r0 < kRunBags && f.offsets[r1 + 1] - first <= kRunIds) ++r1;
    const int64_t n = f.offsets[r1] - first;
    if (static_cast<int64_t>(s.rows.size()) < n) {
      try {
        s.rows.resize(std::max<int64_t>(n, kRunIds));
      } catch (const std::bad_alloc&) {
        // Only a bag longer than a run gets here; fn must not throw on a worker: the driver reports it.
        plan.remap_failed->store(true, std::memory_order_relaxed);
        return;
      }
    }
    f.remap.fn(f.remap.ctx, static_cast<const char*>(plan.ids) + first * id_bytes, plan.ids_int64, n, s.rows.data());
    for (int64_t b = r0; b <= r1; ++b) s.offsets[b - r0] = f.offsets[b] - first;

    // The run as a one-feature plan over the buffer: positions relative to `first`.
    FeaturePlan run = f;
    run.offsets = s.offsets;
    run.out = f.out + r0 * plan.out_width;
    LookupPlan sub = plan;
    sub.features = &run;
    sub.num_features = 1;
    sub.batch = r1 - r0;
    sub.ids = s.rows.data();
    sub.ids_int64 = true;
    sub.weights = plan.weights != nullptr ? plan.weights + first : nullptr;
    pool(sub, 0, r1 - r0);
    r0 = r1;
  }
}

}  // namespace

void run_bags_remapped(const LookupPlan& plan, int64_t begin_bag, int64_t end_bag, RunBags pool) {
  // Feature by feature (as the pooling paths go): plain features go straight to `pool`.
  for (int64_t bag = begin_bag; bag < end_bag;) {
    const int64_t fi = bag / plan.batch;
    const int64_t b0 = bag - fi * plan.batch;
    const int64_t b1 = std::min(plan.batch, end_bag - fi * plan.batch);
    const FeaturePlan& f = plan.features[fi];
    if (f.remap.fn == nullptr) {
      pool(plan, bag, bag + (b1 - b0));
    } else {
      run_remapped_feature(plan, f, b0, b1, pool);
    }
    bag += b1 - b0;
  }
}

}  // namespace torchrec::kernels::detail
