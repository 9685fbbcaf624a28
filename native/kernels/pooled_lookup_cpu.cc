// The pooled lookup's driver (plan, work split, threads, instruction-set choice) and its portable path.
// The AVX2/F16C path lives in pooled_lookup_avx2.cc.
#include "kernels/pooled_lookup_cpu.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "kernels/cpu_parallel.h"
#include "kernels/pooled_lookup_plan.h"

namespace torchrec::kernels {
namespace detail {
namespace {

inline float widen(float x) {
  return x;
}
inline float widen(c10::Half x) {
  return static_cast<float>(x);
}

// Checked: stops at the first id outside the table, before reading its row, and returns false.
template <typename Id, typename Row, bool Weighted, bool Checked>
bool pool_bag(const FeaturePlan& f, const Id* ids, const float* weights, int64_t begin, int64_t end, float* out,
              int64_t prefetch, int64_t prefetch_end) {
  const Row* rows = reinterpret_cast<const Row*>(f.rows);
  const int64_t dim = f.dim;
  std::fill(out, out + dim, 0.0f);
  for (int64_t i = begin; i < end; ++i) {
    if constexpr (Checked) {
      if (id_out_of_range(f, ids[i])) return false;
    }
    if (i + prefetch < prefetch_end) prefetch_row(f, ids, i + prefetch);
    const Row* row = rows + static_cast<int64_t>(ids[i]) * dim;
    if constexpr (Weighted) {
      const float w = weights[i];
      for (int64_t d = 0; d < dim; ++d) out[d] += w * widen(row[d]);
    } else {
      for (int64_t d = 0; d < dim; ++d) out[d] += widen(row[d]);
    }
  }
  if (f.mean && end > begin) {
    const float scale = 1.0f / static_cast<float>(end - begin);
    for (int64_t d = 0; d < dim; ++d) out[d] *= scale;
  }
  if constexpr (std::is_same_v<Row, c10::Half>) {
    // An fp16 table's pooled result is an fp16 value in TorchRec: round once, then widen.
    if (f.round_half)
      for (int64_t d = 0; d < dim; ++d) out[d] = static_cast<float>(c10::Half(out[d]));
  }
  return true;
}

// Checked: stops at the first bag with an id outside its table and sets plan.bad_id.
template <typename Id, bool Checked>
void run_bags(const LookupPlan& plan, int64_t begin_bag, int64_t end_bag) {
  const Id* ids = static_cast<const Id*>(plan.ids);
  const int64_t prefetch = plan.prefetch_rows;
  int64_t f = begin_bag / plan.batch;
  int64_t b = begin_bag - f * plan.batch;
  for (int64_t bag = begin_bag; bag < end_bag; ++bag) {
    const FeaturePlan& feature = plan.features[f];
    // Prefetch up to the end of this feature's bags in the range (their ids are contiguous).
    const int64_t last_bag = std::min(plan.batch, end_bag - f * plan.batch);
    const int64_t prefetch_end = prefetch > 0 ? feature.offsets[last_bag] : 0;
    float* out = feature.out + b * plan.out_width;
    const int64_t begin = feature.offsets[b];
    const int64_t end = feature.offsets[b + 1];
    bool ok;
    if (feature.half) {
      ok = plan.weights ? pool_bag<Id, c10::Half, true, Checked>(feature, ids, plan.weights, begin, end, out, prefetch,
                                                                 prefetch_end)
                        : pool_bag<Id, c10::Half, false, Checked>(feature, ids, nullptr, begin, end, out, prefetch,
                                                                  prefetch_end);
    } else {
      ok = plan.weights
               ? pool_bag<Id, float, true, Checked>(feature, ids, plan.weights, begin, end, out, prefetch, prefetch_end)
               : pool_bag<Id, float, false, Checked>(feature, ids, nullptr, begin, end, out, prefetch, prefetch_end);
    }
    if (!ok) {
      plan.bad_id->store(true, std::memory_order_relaxed);
      return;
    }
    if (++b == plan.batch) {
      b = 0;
      ++f;
    }
  }
}

template <typename Id>
int64_t first_bad(const Id* ids, int64_t begin, int64_t end, int64_t num_rows) {
  for (int64_t i = begin; i < end; ++i) {
    const int64_t id = static_cast<int64_t>(ids[i]);
    if (id < 0 || id >= num_rows) return i;
  }
  return -1;
}

}  // namespace

void run_bags_portable(const LookupPlan& plan, int64_t begin, int64_t end) {
  if (plan.ids_int64) {
    run_bags<int64_t, false>(plan, begin, end);
  } else {
    run_bags<int32_t, false>(plan, begin, end);
  }
}

void run_bags_checked_portable(const LookupPlan& plan, int64_t begin, int64_t end) {
  if (plan.ids_int64) {
    run_bags<int64_t, true>(plan, begin, end);
  } else {
    run_bags<int32_t, true>(plan, begin, end);
  }
}

int64_t first_bad_id_portable(const void* ids, bool ids_int64, int64_t begin, int64_t end, int64_t num_rows) {
  return ids_int64 ? first_bad(static_cast<const int64_t*>(ids), begin, end, num_rows)
                   : first_bad(static_cast<const int32_t*>(ids), begin, end, num_rows);
}

}  // namespace detail

namespace {

using detail::FeaturePlan;
using detail::LookupPlan;

// Below this much work (multiply-adds, counting each bag as one extra row) a call runs on the calling
// thread: waking the team costs a microsecond or more, which small batches cannot win back.
constexpr int64_t kParallelWork = 1 << 16;
// Chunks per thread: taken dynamically, so a core slowed by a neighbour gets less of the work. Few
// and large: at M on this project's 2-core machine 4 per thread took 5.1-5.2 ms where 16 took
// 6.1-7.2 ms (torchrec_bench --impl kernel, interleaved; H fp16 and skewed ids alike, see
// bench/results/fixed-cost.md), for reasons not pinned down; the find_out_of_range split shares it.
constexpr int64_t kChunksPerThread = 4;
// find_out_of_range splits a key's ids across threads from this many on (about the scan that pays
// for a thread; bench/results/design-measurements.md).
constexpr int64_t kParallelIds = 1 << 15;
// Software prefetch of upcoming rows (prefetch_row): `prefetch_rows()` rows ahead within a run of one
// feature's bags, and only when the call's tables (summed) are far larger than the caches. Out-of-order
// execution already keeps many independent rows in flight, so it is a small win, and a prefetcher
// that walked bag and feature boundaries cost more instructions than it saved (the figures:
// bench/results/design-measurements.md).
// TORCHREC_PREFETCH_ROWS=n overrides the distance (0: off).
constexpr int64_t kPrefetchTableBytes = int64_t{8} << 20;
constexpr int kPrefetchRows = 16;

int prefetch_rows() {
  static const int rows = [] {
    const char* v = std::getenv("TORCHREC_PREFETCH_ROWS");
    if (v == nullptr || *v == '\0') return kPrefetchRows;
    const int n = std::atoi(v);
    return n < 0 ? 0 : (n > 256 ? 256 : n);
  }();
  return rows;
}

struct Isa {
  detail::RunBags run_bags;
  detail::RunBags run_bags_checked;  // PooledBatch::check_ids
  int64_t (*first_bad)(const void*, bool, int64_t, int64_t, int64_t);
  const char* name;
};

bool cpu_has_avx2_f16c() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // avx2 implies the OS saves ymm state (the builtin checks XCR0); F16C has no builtin name in older GCCs.
  if (!__builtin_cpu_supports("avx2")) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
  return (ecx & (1u << 29)) != 0;
#else
  return false;
#endif
}

Isa choose_isa() {
  const char* forced = std::getenv("TORCHREC_CPU_KERNEL");
  const bool portable = forced != nullptr && std::strcmp(forced, "portable") == 0;
#if defined(__x86_64__) || defined(__i386__)
  if (!portable && cpu_has_avx2_f16c()) {
    return {&detail::run_bags_avx2, &detail::run_bags_checked_avx2, &detail::first_bad_id_avx2, "avx2+f16c"};
  }
#endif
  return {&detail::run_bags_portable, &detail::run_bags_checked_portable, &detail::first_bad_id_portable, "portable"};
}

const Isa& isa() {
  static const Isa chosen = choose_isa();
  return chosen;
}

void run_bags_remapped(const LookupPlan& plan, int64_t begin, int64_t end) {
  detail::run_bags_remapped(plan, begin, end, isa().run_bags);
}

// PooledBatch::check_ids: the pooling checks each id as it reads it (before its row). A run with a bad
// id stops there; the caller throws, naming the id from a separate scan (find_out_of_range).
void run_bags_checked_remapped(const LookupPlan& plan, int64_t begin, int64_t end) {
  detail::run_bags_remapped(plan, begin, end, isa().run_bags_checked);  // remapped rows are checked too: cheap
}

// What pools a range of bags: checked plans (bad_id set) check as they go; plans with remapped
// features (remap_failed set) take the remap path.
detail::RunBags bag_runner(const LookupPlan& plan) {
  if (plan.bad_id != nullptr) return plan.remap_failed != nullptr ? &run_bags_checked_remapped : isa().run_bags_checked;
  return plan.remap_failed != nullptr ? &run_bags_remapped : isa().run_bags;
}

// Work of bag `bag` and all bags before it, for the split: monotonic in `bag`.
struct WorkIndex {
  const LookupPlan& plan;
  const int64_t* feature_start;  // work before each feature

  int64_t before(int64_t bag) const {
    if (bag >= plan.num_features * plan.batch) return feature_start[plan.num_features];
    const int64_t f = bag / plan.batch;
    const int64_t b = bag - f * plan.batch;
    const FeaturePlan& feature = plan.features[f];
    return feature_start[f] + (feature.offsets[b] - feature.offsets[0] + b) * feature.dim;
  }

  // The first bag whose preceding work reaches `target`.
  int64_t bag_at(int64_t target) const {
    int64_t lo = 0, hi = plan.num_features * plan.batch;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (before(mid) < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
};

void run_parallel(const LookupPlan& plan, const int64_t* feature_start, int threads) {
  const int64_t bags = plan.num_features * plan.batch;
  const int64_t total = feature_start[plan.num_features];
  const int64_t chunks = std::min<int64_t>(bags, threads * kChunksPerThread);
  // Equal work per chunk, not equal bags: one huge table or a few long bags still keep every core busy.
  std::vector<int64_t> bounds(chunks + 1);
  const WorkIndex index{plan, feature_start};
  bounds[0] = 0;
  bounds[chunks] = bags;
  for (int64_t c = 1; c < chunks; ++c) bounds[c] = std::max(bounds[c - 1], index.bag_at(total / chunks * c));
  std::atomic<int64_t> next{0};
  const auto run = bag_runner(plan);
  fork_join(threads, [&](int, int) {
    for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed)) {
      if (bounds[c] < bounds[c + 1]) run(plan, bounds[c], bounds[c + 1]);
    }
  });
}

}  // namespace

const char* pooled_lookup_isa() {
  return isa().name;
}

bool pooled_lookup_forward(const PooledFeature* features, int64_t num_features, const PooledBatch& batch) {
  if (num_features == 0 || batch.batch == 0) return true;

  // Per-call state lives on the stack for ordinary collections (no allocation on the small-batch path).
  constexpr int64_t kInline = 32;
  FeaturePlan inline_plans[kInline];
  int64_t inline_start[kInline + 1];
  std::vector<FeaturePlan> heap_plans;
  std::vector<int64_t> heap_start;
  FeaturePlan* plans = inline_plans;
  int64_t* feature_start = inline_start;
  if (num_features > kInline) {
    heap_plans.resize(num_features);
    heap_start.resize(num_features + 1);
    plans = heap_plans.data();
    feature_start = heap_start.data();
  }

  feature_start[0] = 0;
  int64_t table_bytes = 0;
  bool remapped = false;
  for (int64_t i = 0; i < num_features; ++i) {
    const PooledFeature& f = features[i];
    FeaturePlan& p = plans[i];
    p.rows = static_cast<const uint8_t*>(f.rows);
    p.row_bytes = f.dim * (f.half ? 2 : 4);
    p.dim = f.dim;
    p.offsets = batch.offsets + f.key * batch.batch;
    p.out = batch.out + f.out_column;
    p.half = f.half;
    p.round_half = f.round_half;
    p.mean = f.mean;
    p.remap = f.remap;
    p.num_rows = f.num_rows;
    remapped = remapped || f.remap.fn != nullptr;
    const bool whole_lines = p.row_bytes % 64 == 0 && reinterpret_cast<uintptr_t>(f.rows) % 64 == 0;
    p.aligned_lines = whole_lines ? static_cast<int>(p.row_bytes / 64) : 0;
    const int64_t ids = p.offsets[batch.batch] - p.offsets[0];
    feature_start[i + 1] = feature_start[i] + (ids + batch.batch) * f.dim;
    table_bytes += f.num_rows * p.row_bytes;  // a table read by two features counts twice: harmless
  }

  LookupPlan plan;
  plan.features = plans;
  plan.num_features = num_features;
  plan.batch = batch.batch;
  plan.out_width = batch.out_width;
  plan.ids = batch.ids;
  plan.ids_int64 = batch.ids_int64;
  plan.weights = batch.per_value_weights;
  plan.prefetch_rows = table_bytes >= kPrefetchTableBytes ? prefetch_rows() : 0;
  std::atomic<bool> remap_failed{false};
  if (remapped) plan.remap_failed = &remap_failed;
  std::atomic<bool> bad_id{false};
  if (batch.check_ids) plan.bad_id = &bad_id;

  const int threads = feature_start[num_features] >= kParallelWork ? intra_op_threads() : 1;
  if (threads <= 1) {
    bag_runner(plan)(plan, 0, num_features * batch.batch);
  } else {
    run_parallel(plan, feature_start, threads);
  }
  if (remap_failed.load()) throw std::bad_alloc();  // a bag too long for memory; nothing else can fail
  return !bad_id.load();
}

std::optional<BadId> find_out_of_range(const PooledBatch& batch, int64_t key, int64_t num_rows) {
  const int64_t begin = batch.offsets[key * batch.batch];
  const int64_t end = batch.offsets[(key + 1) * batch.batch];
  const auto first_bad = isa().first_bad;
  int64_t bad = -1;
  const int threads = end - begin >= kParallelIds ? intra_op_threads() : 1;
  if (threads <= 1) {
    bad = first_bad(batch.ids, batch.ids_int64, begin, end, num_rows);
  } else {
    // Each chunk finds its own first bad id; the earliest chunk that has one holds the answer.
    const int64_t chunks = threads * kChunksPerThread;
    const int64_t size = (end - begin + chunks - 1) / chunks;
    std::vector<int64_t> found(chunks, -1);
    std::atomic<int64_t> next{0};
    fork_join(threads, [&](int, int) {
      for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
           c = next.fetch_add(1, std::memory_order_relaxed)) {
        const int64_t lo = std::min(end, begin + c * size);
        const int64_t hi = std::min(end, lo + size);
        found[c] = first_bad(batch.ids, batch.ids_int64, lo, hi, num_rows);
      }
    });
    for (int64_t c = 0; c < chunks && bad < 0; ++c) bad = found[c];
  }
  if (bad < 0) return std::nullopt;
  const int64_t value =
      batch.ids_int64 ? static_cast<const int64_t*>(batch.ids)[bad] : static_cast<const int32_t*>(batch.ids)[bad];
  return BadId{bad, value};
}

}  // namespace torchrec::kernels
