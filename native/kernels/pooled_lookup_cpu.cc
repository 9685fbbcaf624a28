#include "kernels/pooled_lookup_cpu.h"

#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <algorithm>

namespace torchrec::kernels {
namespace {

inline float widen(float x) { return x; }
inline float widen(c10::Half x) { return static_cast<float>(x); }

// Prefetching a few rows ahead hides part of the DRAM latency that dominates large-table lookups.
constexpr int64_t kPrefetchDistance = 4;

template <typename Id, typename Row, bool Weighted>
void pool_bag(const Row* rows, int64_t dim, const Id* ids, const float* weights, int64_t begin, int64_t end,
              float* out) {
  std::fill(out, out + dim, 0.0f);
  for (int64_t i = begin; i < end; ++i) {
    if (i + kPrefetchDistance < end) {
      __builtin_prefetch(rows + static_cast<int64_t>(ids[i + kPrefetchDistance]) * dim);
    }
    const Row* row = rows + static_cast<int64_t>(ids[i]) * dim;
    if constexpr (Weighted) {
      const float w = weights[i];
      for (int64_t d = 0; d < dim; ++d) out[d] += w * widen(row[d]);
    } else {
      for (int64_t d = 0; d < dim; ++d) out[d] += widen(row[d]);
    }
  }
}

template <typename Id, typename Row>
void pool_feature_bag(const PooledFeature& f, const PooledBatch& batch, int64_t b) {
  const int64_t bag = f.key * batch.batch + b;
  const int64_t begin = batch.offsets[bag];
  const int64_t end = batch.offsets[bag + 1];
  const Row* rows = static_cast<const Row*>(f.rows);
  const Id* ids = static_cast<const Id*>(batch.ids);
  float* out = batch.out + b * batch.out_width + f.out_column;
  if (batch.per_value_weights != nullptr) {
    pool_bag<Id, Row, true>(rows, f.dim, ids, batch.per_value_weights, begin, end, out);
  } else {
    pool_bag<Id, Row, false>(rows, f.dim, ids, nullptr, begin, end, out);
  }
  if (f.mean && end > begin) {
    const float scale = 1.0f / static_cast<float>(end - begin);
    for (int64_t d = 0; d < f.dim; ++d) out[d] *= scale;
  }
  if constexpr (std::is_same_v<Row, c10::Half>) {
    // An fp16 table's pooled result is an fp16 value in TorchRec: round once, then widen.
    for (int64_t d = 0; d < f.dim; ++d) out[d] = static_cast<float>(c10::Half(out[d]));
  }
}

template <typename Id>
void run_all(const std::vector<PooledFeature>& features, const PooledBatch& batch) {
  const int64_t num_features = static_cast<int64_t>(features.size());
  const int64_t bags = num_features * batch.batch;
  if (bags == 0) return;
  // Split so a thread gets at least ~32K multiply-adds: small batches then run inline on the calling
  // thread, since waking the pool costs more than the work.
  int64_t work = 0;
  for (const auto& f : features) {
    work += (batch.offsets[(f.key + 1) * batch.batch] - batch.offsets[f.key * batch.batch] + 1) * f.dim;
  }
  const int64_t work_per_bag = std::max<int64_t>(1, work / bags);
  const int64_t grain = std::max<int64_t>(1, 32768 / work_per_bag);
  at::parallel_for(0, bags, grain, [&](int64_t start, int64_t stop) {
    for (int64_t i = start; i < stop; ++i) {
      const PooledFeature& f = features[i / batch.batch];
      const int64_t b = i % batch.batch;
      if (f.half) {
        pool_feature_bag<Id, c10::Half>(f, batch, b);
      } else {
        pool_feature_bag<Id, float>(f, batch, b);
      }
    }
  });
}

template <typename Id>
std::optional<BadId> scan_ids(const PooledBatch& batch, int64_t key, int64_t num_rows) {
  const Id* ids = static_cast<const Id*>(batch.ids);
  const int64_t begin = batch.offsets[key * batch.batch];
  const int64_t end = batch.offsets[(key + 1) * batch.batch];
  for (int64_t i = begin; i < end; ++i) {
    const int64_t id = static_cast<int64_t>(ids[i]);
    if (id < 0 || id >= num_rows) return BadId{i, id};
  }
  return std::nullopt;
}

}  // namespace

void pooled_lookup_forward(const std::vector<PooledFeature>& features, const PooledBatch& batch) {
  if (batch.ids_int64) {
    run_all<int64_t>(features, batch);
  } else {
    run_all<int32_t>(features, batch);
  }
}

std::optional<BadId> find_out_of_range(const PooledBatch& batch, int64_t key, int64_t num_rows) {
  return batch.ids_int64 ? scan_ids<int64_t>(batch, key, num_rows) : scan_ids<int32_t>(batch, key, num_rows);
}

}  // namespace torchrec::kernels
