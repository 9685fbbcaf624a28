#include "kernels/sparse_backward_cpu.h"

#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>

namespace torchrec::kernels {
namespace {

// Every (feature, sample, position) that reads the table, in the order FBGEMM walks the CSR.
template <typename Id>
void gather(const BackwardTable& table, const BackwardBatch& batch, RowGroups& occ) {
  const Id* ids = static_cast<const Id*>(batch.ids);
  int64_t n = 0;
  for (const auto& f : table.features) {
    n += batch.offsets[(f.key + 1) * batch.batch] - batch.offsets[f.key * batch.batch];
  }
  occ.row.resize(n);
  occ.grad_offset.resize(n);
  occ.scale.resize(n);
  int64_t k = 0;
  for (const auto& f : table.features) {
    for (int64_t b = 0; b < batch.batch; ++b) {
      const int64_t begin = batch.offsets[f.key * batch.batch + b];
      const int64_t end = batch.offsets[f.key * batch.batch + b + 1];
      if (begin == end) continue;
      const float bag_scale = f.mean ? 1.0f / static_cast<float>(end - begin) : 1.0f;
      const int64_t offset = b * batch.grad_width + f.grad_column;
      for (int64_t i = begin; i < end; ++i, ++k) {
        occ.row[k] = static_cast<int64_t>(ids[i]);
        occ.grad_offset[k] = offset;
        occ.scale[k] = batch.per_value_weights != nullptr ? batch.per_value_weights[i] * bag_scale : bag_scale;
      }
    }
  }
}

// Stable LSD radix sort of occurrence indices by row, 11 bits a pass over only the bits row ids can
// use (a 1M-row table needs two passes). Stability keeps each row's occurrences in CSR order, so the
// per-row sums are deterministic.
std::vector<int64_t> order_by_row(const std::vector<int64_t>& row, int64_t num_rows) {
  const int64_t n = static_cast<int64_t>(row.size());
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (n < 2) return order;
  int bits = 0;
  while (bits < 63 && (int64_t{1} << bits) < num_rows) ++bits;
  constexpr int kRadixBits = 11;
  constexpr int64_t kBuckets = int64_t{1} << kRadixBits;
  std::vector<int64_t> next(n);
  std::vector<int64_t> count(kBuckets);
  for (int shift = 0; shift < bits; shift += kRadixBits) {
    std::fill(count.begin(), count.end(), 0);
    for (int64_t i = 0; i < n; ++i) ++count[(row[order[i]] >> shift) & (kBuckets - 1)];
    int64_t sum = 0;
    for (auto& c : count) {
      const int64_t here = c;
      c = sum;
      sum += here;
    }
    for (int64_t i = 0; i < n; ++i) next[count[(row[order[i]] >> shift) & (kBuckets - 1)]++] = order[i];
    order.swap(next);
  }
  return order;
}

// Rows are updated in increasing order, but the gaps between touched rows defeat the hardware
// prefetcher; asking for the row a few segments ahead hides most of the DRAM latency.
constexpr int64_t kPrefetchSegments = 8;

inline void prefetch_bytes(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 1);
}

template <typename Row>
void update_segments(const BackwardTable& table, const BackwardBatch& batch, const RowGroups& occ,
                     const RowUpdate& update, const RowPrefetch& prefetch_state) {
  const std::vector<int64_t>& order = occ.order;
  const std::vector<int64_t>& seg_start = occ.seg_start;
  const int64_t dim = table.dim;
  const int64_t segments = occ.unique_rows();
  const int64_t per_segment = static_cast<int64_t>(order.size()) / std::max<int64_t>(1, segments) + 4;
  // At least ~32K flops a task: small steps run inline, since waking the pool costs more.
  const int64_t grain = std::max<int64_t>(1, 32768 / (dim * per_segment));
  Row* rows = static_cast<Row*>(table.rows);
  at::parallel_for(0, segments, grain, [&](int64_t first, int64_t last) {
    std::vector<float> g(dim), scratch(dim), wide(dim);
    for (int64_t s = first; s < last; ++s) {
      if (s + kPrefetchSegments < last) {
        const int64_t ahead = occ.row[order[seg_start[s + kPrefetchSegments]]];
        prefetch_bytes(rows + ahead * dim, dim * static_cast<int64_t>(sizeof(Row)));
        if (prefetch_state) prefetch_state(ahead);
      }
      std::fill(g.begin(), g.end(), 0.0f);
      const int64_t row = occ.row[order[seg_start[s]]];
      for (int64_t k = seg_start[s]; k < seg_start[s + 1]; ++k) {
        const int64_t o = order[k];
        const float scale = occ.scale[o];
        const float* src = batch.grad + occ.grad_offset[o];
        for (int64_t d = 0; d < dim; ++d) g[d] += scale * src[d];
      }
      Row* target = rows + row * dim;
      if constexpr (std::is_same_v<Row, float>) {
        update(row, target, g.data(), scratch.data());
      } else {
        // fp16 tables: update in fp32 from the widened row, round the new row to fp16 once.
        for (int64_t d = 0; d < dim; ++d) wide[d] = static_cast<float>(target[d]);
        update(row, wide.data(), g.data(), scratch.data());
        for (int64_t d = 0; d < dim; ++d) target[d] = c10::Half(wide[d]);
      }
    }
  });
}

}  // namespace

RowGroups group_rows(const BackwardTable& table, const BackwardBatch& batch) {
  RowGroups groups;
  if (batch.ids_int64) {
    gather<int64_t>(table, batch, groups);
  } else {
    gather<int32_t>(table, batch, groups);
  }
  groups.order = order_by_row(groups.row, table.num_rows);
  const int64_t n = static_cast<int64_t>(groups.order.size());
  for (int64_t k = 0; k < n; ++k) {
    if (k == 0 || groups.row[groups.order[k]] != groups.row[groups.order[k - 1]]) groups.seg_start.push_back(k);
  }
  groups.seg_start.push_back(n);
  return groups;
}

void apply_row_updates(const BackwardTable& table, const BackwardBatch& batch, const RowGroups& groups,
                       const RowUpdate& update, const RowPrefetch& prefetch_state) {
  if (groups.unique_rows() <= 0) return;
  if (table.half) {
    update_segments<c10::Half>(table, batch, groups, update, prefetch_state);
  } else {
    update_segments<float>(table, batch, groups, update, prefetch_state);
  }
}

std::optional<int64_t> find_non_finite(const float* values, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) return i;
  }
  return std::nullopt;
}

}  // namespace torchrec::kernels
