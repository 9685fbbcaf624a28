#include "kernels/sparse_backward_cpu.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>

#include "kernels/cpu_parallel.h"

namespace torchrec::kernels {
namespace {

// Below this many occurrences a step runs on one thread: waking the team costs more than it saves.
constexpr int64_t kMinOccurrencesPerThread = 4096;

int64_t occurrences(const BackwardTable& table, const BackwardBatch& batch) {
  int64_t n = 0;
  for (const auto& f : table.features) {
    n += batch.offsets[(f.key + 1) * batch.batch] - batch.offsets[f.key * batch.batch];
  }
  return n;
}

// One thread's working memory for grouping a table, sized for the largest table before the threads
// start, so that nothing allocates (and nothing can throw) inside the parallel region. Left
// uninitialised: every slot is written before it is read, and zero-filling it each step measured
// slower (bench/results/design-measurements.md).
struct SortScratch {
  std::unique_ptr<int64_t[]> key[2];  // rows, in CSR order, then partially sorted
  std::unique_ptr<int64_t[]> idx[2];  // the occurrence each key came from
  std::unique_ptr<int64_t[]> grad_offset;
  std::unique_ptr<float[]> scale;
  explicit SortScratch(int64_t n)
      : key{std::unique_ptr<int64_t[]>(new int64_t[n]), std::unique_ptr<int64_t[]>(new int64_t[n])},
        idx{std::unique_ptr<int64_t[]>(new int64_t[n]), std::unique_ptr<int64_t[]>(new int64_t[n])},
        grad_offset(new int64_t[n]),
        scale(new float[n]) {}
};

// Every (feature, sample, position) that reads the table, in the order FBGEMM walks the CSR.
template <typename Id>
void gather(const BackwardTable& table, const BackwardBatch& batch, SortScratch& s) {
  const Id* ids = static_cast<const Id*>(batch.ids);
  int64_t k = 0;
  for (const auto& f : table.features) {
    for (int64_t b = 0; b < batch.batch; ++b) {
      const int64_t begin = batch.offsets[f.key * batch.batch + b];
      const int64_t end = batch.offsets[f.key * batch.batch + b + 1];
      if (begin == end) continue;
      const float bag_scale = f.mean ? 1.0f / static_cast<float>(end - begin) : 1.0f;
      const int64_t offset = b * batch.grad_width + f.grad_column;
      for (int64_t i = begin; i < end; ++i, ++k) {
        s.key[0][k] = static_cast<int64_t>(ids[i]);
        s.idx[0][k] = k;
        s.grad_offset[k] = offset;
        s.scale[k] = batch.per_value_weights != nullptr ? batch.per_value_weights[i] * bag_scale : bag_scale;
      }
    }
  }
}

// Stable LSD radix sort of (row, occurrence) pairs by row, over only the bits row ids can use, in
// equal digits of at most 11 bits (a 1M-row table: two passes of 10). Keys travel with their
// occurrence so every pass reads sequentially. Returns which buffer holds the result.
int sort_by_row(SortScratch& s, int64_t n, int64_t num_rows) {
  int bits = 0;
  while (bits < 63 && (int64_t{1} << bits) < num_rows) ++bits;
  if (n < 2 || bits == 0) return 0;
  const int passes = (bits + 10) / 11;
  const int digit = (bits + passes - 1) / passes;
  const int64_t buckets = int64_t{1} << digit;
  int64_t count[int64_t{1} << 11];
  int from = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const int shift = pass * digit;
    const int64_t* key = s.key[from].get();
    const int64_t* idx = s.idx[from].get();
    int64_t* key_out = s.key[1 - from].get();
    int64_t* idx_out = s.idx[1 - from].get();
    std::fill(count, count + buckets, 0);
    for (int64_t i = 0; i < n; ++i) ++count[(key[i] >> shift) & (buckets - 1)];
    int64_t sum = 0;
    for (int64_t b = 0; b < buckets; ++b) {
      const int64_t here = count[b];
      count[b] = sum;
      sum += here;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t at = count[(key[i] >> shift) & (buckets - 1)]++;
      key_out[at] = key[i];
      idx_out[at] = idx[i];
    }
    from = 1 - from;
  }
  return from;
}

void group_table(const BackwardTable& table, const BackwardBatch& batch, SortScratch& s, RowGroups& out) {
  const int64_t n = static_cast<int64_t>(out.grad_offset.size());
  if (batch.ids_int64) {
    gather<int64_t>(table, batch, s);
  } else {
    gather<int32_t>(table, batch, s);
  }
  const int sorted = sort_by_row(s, n, table.num_rows);
  const int64_t* key = s.key[sorted].get();
  const int64_t* idx = s.idx[sorted].get();
  int64_t segments = 0;
  for (int64_t k = 0; k < n; ++k) {
    if (k == 0 || key[k] != key[k - 1]) {
      out.unique_row[segments] = key[k];
      out.seg_start[segments] = k;
      ++segments;
    }
    out.grad_offset[k] = s.grad_offset[idx[k]];
    out.scale[k] = s.scale[idx[k]];
  }
  out.seg_start[segments] = n;
  out.unique_row.resize(segments);  // shrinking never reallocates
  out.seg_start.resize(segments + 1);
}

// Rows are updated in increasing order, but the gaps between touched rows defeat the hardware
// prefetcher; asking for the row a few segments (and the gradient a few occurrences) ahead hides
// most of the memory latency.
constexpr int64_t kPrefetchSegments = 8;
constexpr int64_t kPrefetchOccurrences = 12;

inline void prefetch_bytes(const void* p, int64_t bytes, int rw) {
  const char* c = static_cast<const char*>(p);
  for (int64_t off = 0; off < bytes; off += 64) {
    if (rw) {
      __builtin_prefetch(c + off, 1);
    } else {
      __builtin_prefetch(c + off, 0);
    }
  }
}

// A row update costs about this many occurrences' worth of gradient sums (it reads and writes the
// row and its state): the unit the threads' shares are balanced in.
constexpr int64_t kRowCost = 4;

// First segment of the share of `part` out of `parts`: cost(s) = seg_start[s] + kRowCost * s grows
// with s, so the split is a binary search.
int64_t split_point(const RowGroups& g, int part, int parts) {
  const int64_t segments = g.unique_rows();
  const int64_t total = g.seg_start[segments] + kRowCost * segments;
  const int64_t target = total / parts * part + total % parts * part / parts;
  int64_t lo = 0, hi = segments;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (g.seg_start[mid] + kRowCost * mid < target) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

template <typename Row>
void update_range(const BackwardTable& table, const BackwardBatch& batch, const RowGroups& g, int64_t first,
                  int64_t last, const RowUpdate& update, const RowPrefetch& prefetch_state, float* buffers) {
  const int64_t dim = table.dim;
  const int64_t row_bytes = dim * static_cast<int64_t>(sizeof(Row));
  const int64_t grad_bytes = dim * static_cast<int64_t>(sizeof(float));
  float* __restrict acc = buffers;
  float* scratch = buffers + dim;
  float* wide = buffers + 2 * dim;
  Row* rows = static_cast<Row*>(table.rows);
  const int64_t* seg_start = g.seg_start.data();
  const int64_t* grad_offset = g.grad_offset.data();
  const float* scale = g.scale.data();
  const int64_t occ_end = seg_start[last];
  for (int64_t k = seg_start[first]; k < std::min(occ_end, seg_start[first] + kPrefetchOccurrences); ++k) {
    prefetch_bytes(batch.grad + grad_offset[k], grad_bytes, 0);
  }
  for (int64_t s = first; s < last; ++s) {
    if (s + kPrefetchSegments < last) {
      const int64_t ahead = g.unique_row[s + kPrefetchSegments];
      prefetch_bytes(rows + ahead * dim, row_bytes, 1);
      if (prefetch_state) prefetch_state(ahead);
    }
    std::fill(acc, acc + dim, 0.0f);
    for (int64_t k = seg_start[s]; k < seg_start[s + 1]; ++k) {
      if (k + kPrefetchOccurrences < occ_end) {
        prefetch_bytes(batch.grad + grad_offset[k + kPrefetchOccurrences], grad_bytes, 0);
      }
      const float c = scale[k];
      const float* __restrict src = batch.grad + grad_offset[k];
      for (int64_t d = 0; d < dim; ++d) acc[d] += c * src[d];
    }
    const int64_t row = g.unique_row[s];
    Row* target = rows + row * dim;
    if constexpr (std::is_same_v<Row, float>) {
      update(row, target, acc, scratch);
    } else {
      // fp16 tables: update in fp32 from the widened row, round the new row to fp16 once (stochastically
      // by default, as FBGEMM).
      for (int64_t d = 0; d < dim; ++d) wide[d] = static_cast<float>(target[d]);
      update(row, wide, acc, scratch);
      if (table.rounding != nullptr) {
        const uint64_t key = sr_row_key(*table.rounding, row);
        for (int64_t d = 0; d < dim; ++d)
          target[d] = stochastic_round_half(wide[d], sr_bits(key, table.rounding->first_col + d));
      } else {
        for (int64_t d = 0; d < dim; ++d) target[d] = c10::Half(wide[d]);
      }
    }
  }
}

int threads_for(int64_t work, int threads) {
  const int64_t useful = std::max<int64_t>(1, work / kMinOccurrencesPerThread);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, useful)));
}

}  // namespace

std::vector<RowGroups> group_rows(const std::vector<BackwardTable>& tables, const BackwardBatch& batch, int threads) {
  const int64_t num_tables = static_cast<int64_t>(tables.size());
  std::vector<RowGroups> groups(num_tables);
  int64_t largest = 0, total = 0;
  for (int64_t t = 0; t < num_tables; ++t) {
    const int64_t n = occurrences(tables[t], batch);
    groups[t].unique_row.resize(n);
    groups[t].seg_start.resize(n + 1);
    groups[t].grad_offset.resize(n);
    groups[t].scale.resize(n);
    largest = std::max(largest, n);
    total += n;
  }
  const int team = static_cast<int>(std::min<int64_t>(threads_for(total, threads), std::max<int64_t>(1, num_tables)));
  std::vector<SortScratch> scratch;
  scratch.reserve(team);
  for (int i = 0; i < team; ++i) scratch.emplace_back(largest);
  // Tables are dealt out largest first to whichever thread has the least so far.
  std::vector<int64_t> by_size(num_tables);
  for (int64_t t = 0; t < num_tables; ++t) by_size[t] = t;
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](int64_t a, int64_t b) { return groups[a].grad_offset.size() > groups[b].grad_offset.size(); });
  std::vector<int> owner(num_tables, 0);
  std::vector<int64_t> load(team, 0);
  for (int64_t t : by_size) {
    const int to = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[t] = to;
    load[to] += static_cast<int64_t>(groups[t].grad_offset.size());
  }
  fork_join(team, [&](int thread, int count) {
    for (int64_t t = 0; t < num_tables; ++t) {
      // count < team only if the OpenMP runtime granted fewer threads than asked for.
      if (owner[t] % count == thread) group_table(tables[t], batch, scratch[thread], groups[t]);
    }
  });
  return groups;
}

void apply_row_updates(const BackwardTable& table, const BackwardBatch& batch, const RowGroups& groups,
                       const RowUpdate& update, const RowPrefetch& prefetch_state, int threads) {
  const int64_t segments = groups.unique_rows();
  if (segments <= 0) return;
  const int team = threads_for(groups.seg_start[segments], threads);
  std::vector<float> buffers(static_cast<size_t>(team) * 3 * table.dim);
  fork_join(team, [&](int thread, int count) {
    const int64_t first = split_point(groups, thread, count);
    const int64_t last = thread + 1 == count ? segments : split_point(groups, thread + 1, count);
    float* mine = buffers.data() + static_cast<size_t>(thread) * 3 * table.dim;
    if (table.half) {
      update_range<c10::Half>(table, batch, groups, first, last, update, prefetch_state, mine);
    } else {
      update_range<float>(table, batch, groups, first, last, update, prefetch_state, mine);
    }
  });
}

std::optional<int64_t> find_non_finite(const float* values, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) return i;
  }
  return std::nullopt;
}

}  // namespace torchrec::kernels
