// Fused pooled embedding lookup on the CPU: every (feature, sample) bag of every table in one
// parallel pass, SUM or MEAN, optional per-value weights, fp32 or fp16 rows, int32 or int64 ids.
// Inputs are trusted: callers validate offsets and id ranges first (see find_out_of_range).
//
// Results are bit-identical on every path (AVX2/F16C or portable) and for any thread count: each output
// element is the fp32 sum, in id order, of `row[d]` (or `weight * row[d]`, multiply then add, no FMA),
// times 1/n for MEAN, rounded once to fp16 for fp16 tables (unless the feature asks for its fp32 partial sum).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace torchrec::kernels {

// Ids that are not row numbers yet (managed ids): fn(ctx, ids, ids_int64, n, rows) writes the row of
// each of the n ids (int64 when ids_int64, else int32) to rows. May run on several threads at once.
struct IdRemap {
  void (*fn)(const void* ctx, const void* ids, bool ids_int64, int64_t n, int64_t* rows) = nullptr;
  const void* ctx = nullptr;
};

// One output block: a feature looked up in one table.
struct PooledFeature {
  const void* rows = nullptr;  // [num_rows][dim], float or fp16 (uint16_t bits)
  bool half = false;
  bool round_half = true;  // fp16 rows: round the pooled result to fp16 (false: leave an fp32 partial sum)
  int64_t num_rows = 0;
  int64_t dim = 0;
  int64_t key = 0;  // which KJT key: its bags are offsets[key*B + b]
  bool mean = false;
  int64_t out_column = 0;  // first column of this block in the output row
  // Set: this feature's ids go through remap first, a run of bags at a time into a small per-thread
  // buffer (pooled_lookup_remap.cc), never into a rewritten copy of the batch; same bits as
  // remap-then-pool. Its ids need no range check (the remap's rows are the caller's to keep in range).
  IdRemap remap;
};

struct PooledBatch {
  const int64_t* offsets = nullptr;  // keys*B + 1 entries
  const void* ids = nullptr;
  bool ids_int64 = true;
  const float* per_value_weights = nullptr;  // null when unweighted
  int64_t batch = 0;                         // B
  float* out = nullptr;                      // [B][out_width]
  int64_t out_width = 0;
  // Check each id against num_rows as the pooling reads it, instead of trusting them: no separate pass
  // over the batch's ids.
  bool check_ids = false;
};

// Returns false when check_ids found an id out of range; the output is then unspecified (the caller
// reports the error: find_out_of_range names the id). Always true without check_ids.
bool pooled_lookup_forward(const PooledFeature* features, int64_t num_features, const PooledBatch& batch);
inline bool pooled_lookup_forward(const std::vector<PooledFeature>& features, const PooledBatch& batch) {
  return pooled_lookup_forward(features.data(), static_cast<int64_t>(features.size()), batch);
}

struct BadId {
  int64_t position;  // index into the KJT's values
  int64_t value;
};

// The first id of `key`'s bags outside [0, num_rows), if any.
std::optional<BadId> find_out_of_range(const PooledBatch& batch, int64_t key, int64_t num_rows);

// Which row-accumulation code runs: "avx2+f16c" on CPUs that have both, else "portable". Setting
// TORCHREC_CPU_KERNEL=portable in the environment (read once) forces the portable path, for tests.
const char* pooled_lookup_isa();

}  // namespace torchrec::kernels
