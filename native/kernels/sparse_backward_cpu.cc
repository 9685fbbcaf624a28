// Multiply and add are never fused: every instruction set's copy of the row loop gives the same bits.
#pragma GCC optimize("fp-contract=off")

#include "kernels/sparse_backward_cpu.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "kernels/cpu_parallel.h"
#include "kernels/row_math.h"
#include "kernels/sparse_backward_detail.h"

#define TORCHREC_BWD_NS portable
#define TORCHREC_BWD_TARGET
#include "kernels/sparse_backward_rows.h"
#undef TORCHREC_BWD_NS
#undef TORCHREC_BWD_TARGET

namespace torchrec::kernels {
namespace detail {

void update_rows_portable(const RowJob& job, int64_t first, int64_t last, float* buffers) {
  portable::update_rows(job, first, last, buffers);
}

}  // namespace detail

namespace {

// Below this many occurrences a step runs on one thread: waking the team costs more than it saves.
constexpr int64_t kMinOccurrencesPerThread = 4096;
// A row update costs about this many occurrences' worth of gradient sums (it reads and writes the
// row and its state): the unit work is balanced in.
constexpr int64_t kRowCost = 4;
// Threads take the row updates in chunks of about this much work (a few hundred per M step): small
// enough that a thread the OS preempts holds up little, big enough that a chunk's prefetch warm-up
// (its first rows are not requested ahead) is noise.
constexpr int64_t kChunkCost = 16384;

// A buffer that only grows, left uninitialised: every slot is written before it is read.
template <typename T>
struct Grow {
  std::unique_ptr<T[]> data;
  int64_t size = 0;
  T* reserve(int64_t n) {
    if (n > size) {
      const int64_t want = n + n / 4;  // headroom, so a slowly growing batch does not reallocate each step
      data.reset();                    // the old buffer goes first: both never need to fit at once
      size = 0;
      data.reset(new T[static_cast<size_t>(want)]);
      size = want;
    }
    return data.get();
  }
};

}  // namespace

// Per table t: its occurrences are [occ[t], occ[t+1]) of the flat arrays, in row order after grouping.
struct BackwardWorkspace::Buffers {
  Grow<int64_t> occ, segments;  // per table: occurrence base; unique rows after grouping
  Grow<int64_t> unique_row;     // per table, at the table's occurrence base: the rows, increasing
  Grow<int64_t> seg_start;      // per table, at its occurrence base + t: segment starts (+ an end)
  Grow<int64_t> grad_offset;    // per occurrence: b * grad_width + the feature's column
  Grow<float> scale;            // per occurrence: per-value weight * (1/L for MEAN)
  Grow<int64_t> order;          // tables, largest first
  struct Chunk {
    int64_t table, first, last;
  };
  Grow<Chunk> chunks;
  // Per thread: (row << index_bits | CSR index) keys and their CSR walk's offsets and scales.
  struct Sort {
    Grow<uint64_t> key[2];
    Grow<int64_t> grad_offset;
    Grow<float> scale;
    int64_t count[6][int64_t{1} << 11];  // a histogram per radix pass: 64 bits / 11
  };
  Sort sort[2];
  std::unique_ptr<Sort[]> more_sort;  // threads past two
  int sort_threads = 0;
  Grow<float> rows;  // per thread 3 * dim floats for the row loop
  Sort& sort_of(int thread) { return thread < 2 ? sort[thread] : more_sort[thread - 2]; }
};

BackwardWorkspace::BackwardWorkspace() : buffers_(std::make_unique<Buffers>()) {}
BackwardWorkspace::~BackwardWorkspace() = default;

namespace {

using Buffers = BackwardWorkspace::Buffers;

int bits_for(uint64_t n) {  // bits to write 0 .. n - 1
  int bits = 0;
  while (bits < 64 && (uint64_t{1} << bits) < n) ++bits;
  return bits;
}

int64_t occurrences(const BackwardTable& table, const BackwardBatch& batch) {
  int64_t n = 0;
  for (const auto& f : table.features) {
    n += batch.offsets[(f.key + 1) * batch.batch] - batch.offsets[f.key * batch.batch];
  }
  return n;
}

// Every (feature, sample, position) that reads the table, in the order FBGEMM walks the CSR: keys
// carry the row above `shift` bits and the walk's index below, so sorting keys by row is stable.
template <typename Id>
void gather(const BackwardTable& table, const BackwardBatch& batch, int shift, Buffers::Sort& s) {
  const Id* ids = static_cast<const Id*>(batch.ids);
  uint64_t* key = s.key[0].data.get();
  int64_t* grad_offset = s.grad_offset.data.get();
  float* scale = s.scale.data.get();
  int64_t k = 0;
  for (const auto& f : table.features) {
    for (int64_t b = 0; b < batch.batch; ++b) {
      const int64_t begin = batch.offsets[f.key * batch.batch + b];
      const int64_t end = batch.offsets[f.key * batch.batch + b + 1];
      if (begin == end) continue;
      const float bag_scale = f.mean ? 1.0f / static_cast<float>(end - begin) : 1.0f;
      const int64_t offset = b * batch.grad_width + f.grad_column;
      for (int64_t i = begin; i < end; ++i, ++k) {
        key[k] = static_cast<uint64_t>(ids[i]) << shift | static_cast<uint64_t>(k);
        grad_offset[k] = offset;
        scale[k] = batch.per_value_weights != nullptr ? batch.per_value_weights[i] * bag_scale : bag_scale;
      }
    }
  }
}

// LSD radix sort of n keys by their row bits [shift, shift + row_bits), in equal digits of at most
// 11 bits (a 1M-row table: two passes of 10), every digit's histogram counted in one read. Returns
// which buffer holds the result.
int sort_keys(Buffers::Sort& s, int64_t n, int shift, int row_bits) {
  if (n < 2 || row_bits == 0) return 0;
  const int passes = (row_bits + 10) / 11;
  const int digit = (row_bits + passes - 1) / passes;
  const uint64_t mask = (uint64_t{1} << digit) - 1;
  auto& count = s.count;
  for (int p = 0; p < passes; ++p) std::fill(count[p], count[p] + mask + 1, 0);
  const uint64_t* in = s.key[0].data.get();
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t row = in[i] >> shift;
    for (int p = 0; p < passes; ++p) ++count[p][(row >> (p * digit)) & mask];
  }
  int from = 0;
  for (int p = 0; p < passes; ++p) {
    int64_t sum = 0;
    for (uint64_t b = 0; b <= mask; ++b) {
      const int64_t here = count[p][b];
      count[p][b] = sum;
      sum += here;
    }
    const uint64_t* key = s.key[from].data.get();
    uint64_t* out = s.key[1 - from].data.get();
    const int at = shift + p * digit;
    for (int64_t i = 0; i < n; ++i) out[count[p][(key[i] >> at) & mask]++] = key[i];
    from = 1 - from;
  }
  return from;
}

void group_table(const BackwardTable& table, const BackwardBatch& batch, Buffers& w, int64_t t, Buffers::Sort& s) {
  const int64_t base = w.occ.data[t];
  const int64_t n = w.occ.data[t + 1] - base;
  const int shift = bits_for(static_cast<uint64_t>(n));
  if (batch.ids_int64) {
    gather<int64_t>(table, batch, shift, s);
  } else {
    gather<int32_t>(table, batch, shift, s);
  }
  const uint64_t* key = s.key[sort_keys(s, n, shift, bits_for(static_cast<uint64_t>(table.num_rows)))].data.get();
  const uint64_t index_mask = (uint64_t{1} << shift) - 1;
  int64_t* unique_row = w.unique_row.data.get() + base;
  int64_t* seg_start = w.seg_start.data.get() + base + t;
  int64_t* grad_offset = w.grad_offset.data.get() + base;
  float* scale = w.scale.data.get() + base;
  int64_t segments = 0;
  uint64_t previous = ~uint64_t{0};
  for (int64_t j = 0; j < n; ++j) {
    const uint64_t row = key[j] >> shift;
    const uint64_t k = key[j] & index_mask;
    if (row != previous) {
      unique_row[segments] = static_cast<int64_t>(row);
      seg_start[segments] = j;
      ++segments;
      previous = row;
    }
    grad_offset[j] = s.grad_offset.data[k];
    scale[j] = s.scale.data[k];
  }
  seg_start[segments] = n;
  w.segments.data[t] = segments;
}

int threads_for(int64_t work, int threads) {
  const int64_t useful = std::max<int64_t>(1, work / kMinOccurrencesPerThread);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, useful)));
}

// The first segment of table t whose work before it reaches `target`: cost(s) = seg_start[s] +
// kRowCost * s grows with s, so it is a binary search.
int64_t segment_at(const int64_t* seg_start, int64_t segments, int64_t target) {
  int64_t lo = 0, hi = segments;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (seg_start[mid] + kRowCost * mid < target) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

struct Isa {
  detail::UpdateRows update;
  const char* name;
};

Isa choose_isa() {
  const char* forced = std::getenv("TORCHREC_CPU_KERNEL");
  const std::string cap = forced != nullptr ? forced : "";
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  if (avx512 && cap != "portable" && cap != "avx2") return {&detail::update_rows_avx512, "avx512"};
  if (avx2 && cap != "portable") return {&detail::update_rows_avx2, "avx2"};
#endif
  return {&detail::update_rows_portable, "portable"};
}

const Isa& isa() {
  static const Isa chosen = choose_isa();
  return chosen;
}

// Sizes every buffer for this step and lays out the tables' occurrences; throws (nothing has moved).
void prepare(const std::vector<BackwardTable>& tables, const BackwardBatch& batch, Buffers& w, int team) {
  const int64_t num_tables = static_cast<int64_t>(tables.size());
  int64_t* occ = w.occ.reserve(num_tables + 1);
  w.segments.reserve(num_tables);
  int64_t largest = 0, max_dim = 1;
  occ[0] = 0;
  for (int64_t t = 0; t < num_tables; ++t) {
    const int64_t n = occurrences(tables[t], batch);
    occ[t + 1] = occ[t] + n;
    largest = std::max(largest, n);
    max_dim = std::max(max_dim, tables[t].dim);
    if (bits_for(static_cast<uint64_t>(n)) + bits_for(static_cast<uint64_t>(tables[t].num_rows)) > 64) {
      fail(ErrorCode::InvalidArgument, "backward: ", n, " ids in one batch for a table of ", tables[t].num_rows,
           " rows are too many to group; split the batch");
    }
  }
  const int64_t total = occ[num_tables];
  w.unique_row.reserve(total);
  w.seg_start.reserve(total + num_tables);
  w.grad_offset.reserve(total);
  w.scale.reserve(total);
  int64_t* order = w.order.reserve(num_tables);
  for (int64_t t = 0; t < num_tables; ++t) order[t] = t;
  std::sort(order, order + num_tables, [&](int64_t a, int64_t b) {  // std::sort allocates nothing
    const int64_t na = occ[a + 1] - occ[a], nb = occ[b + 1] - occ[b];
    return na != nb ? na > nb : a < b;
  });
  // Work is at most total * (1 + kRowCost): that many chunks of kChunkCost, plus one cut per table.
  w.chunks.reserve(total * (1 + kRowCost) / kChunkCost + num_tables + 1);
  if (team > 2 && w.sort_threads < team) {
    w.more_sort.reset(new Buffers::Sort[team - 2]);
    w.sort_threads = team;
  }
  for (int i = 0; i < team; ++i) {
    Buffers::Sort& s = w.sort_of(i);
    s.key[0].reserve(largest);
    s.key[1].reserve(largest);
    s.grad_offset.reserve(largest);
    s.scale.reserve(largest);
  }
  w.rows.reserve(static_cast<int64_t>(team) * (detail::kRowBlock + 2) * max_dim);
}

// Cuts the tables' segments into chunks of about kChunkCost work, in table order.
int64_t make_chunks(const std::vector<BackwardTable>& tables, Buffers& w) {
  int64_t count = 0;
  for (int64_t t = 0; t < static_cast<int64_t>(tables.size()); ++t) {
    const int64_t segments = w.segments.data[t];
    const int64_t* seg_start = w.seg_start.data.get() + w.occ.data[t] + t;
    const int64_t cost = seg_start[segments] + kRowCost * segments;
    for (int64_t first = 0, c = 1; first < segments; ++c) {
      const int64_t last = c * kChunkCost >= cost ? segments : segment_at(seg_start, segments, c * kChunkCost);
      if (last > first) w.chunks.data[count++] = {t, first, last};
      first = last;
    }
  }
  return count;
}

}  // namespace

void sparse_backward(const std::vector<BackwardTable>& tables, const BackwardBatch& batch, BackwardWorkspace& workspace,
                     int threads) {
  Buffers& w = *workspace.buffers_;
  int64_t total = 0;
  for (const auto& table : tables) total += occurrences(table, batch);
  if (total == 0) return;
  const int team = threads_for(total, threads);
  prepare(tables, batch, w, team);
  const int64_t num_tables = static_cast<int64_t>(tables.size());

  // Grouping: threads take tables, largest first.
  std::atomic<int64_t> next{0};
  fork_join(std::min<int>(team, static_cast<int>(num_tables)), [&](int thread, int) {
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < num_tables;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      const int64_t t = w.order.data[i];
      group_table(tables[t], batch, w, t, w.sort_of(thread));
    }
  });

  // Updates: threads take chunks of rows across all tables.
  const int64_t chunks = make_chunks(tables, w);
  const detail::UpdateRows update = isa().update;
  int64_t max_dim = 1;
  for (const auto& table : tables) max_dim = std::max(max_dim, table.dim);
  std::atomic<int64_t> next_chunk{0};
  fork_join(static_cast<int>(std::min<int64_t>(team, chunks)), [&](int thread, int) {
    float* buffers = w.rows.data.get() + static_cast<int64_t>(thread) * (detail::kRowBlock + 2) * max_dim;
    for (int64_t c = next_chunk.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next_chunk.fetch_add(1, std::memory_order_relaxed)) {
      const Buffers::Chunk& chunk = w.chunks.data[c];
      const BackwardTable& table = tables[chunk.table];
      const int64_t base = w.occ.data[chunk.table];
      detail::RowJob job;
      job.rows = table.rows;
      job.half = table.half;
      job.rounding = table.rounding;
      job.dim = table.dim;
      job.grad = batch.grad;
      job.unique_row = w.unique_row.data.get() + base;
      job.seg_start = w.seg_start.data.get() + base + chunk.table;
      job.grad_offset = w.grad_offset.data.get() + base;
      job.scale = w.scale.data.get() + base;
      job.rule = table.rule;
      update(job, chunk.first, chunk.last, buffers);
    }
  });
}

const char* sparse_backward_isa() {
  return isa().name;
}

// Blocks of values are screened with integer compares on the exponent bits, which the compiler
// vectorizes (std::isfinite it does not); only a block that holds a non-finite value is walked again.
std::optional<int64_t> find_non_finite(const float* values, int64_t n) {
  constexpr int64_t kBlock = 1024;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t end = std::min(n, start + kBlock);
    uint32_t bad = 0;
    for (int64_t i = start; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, values + i, sizeof(bits));
      bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (bad == 0) continue;
    for (int64_t i = start; i < end; ++i) {
      if (!std::isfinite(values[i])) return i;
    }
  }
  return std::nullopt;
}

}  // namespace torchrec::kernels
