// CUDA kernels of the EBC: the fused pooled forward (pooled_lookup_cuda.cu) and the sparse backward
// with FBGEMM's exact fused optimizers (sparse_update_cuda.cu). A plain C++ header: raw pointers,
// integers and cudaStream_t only, so .cc files compiled by the host compiler can include it.
// Every pointer named "device" is device memory. Inputs are trusted: callers validate offsets and id
// ranges on the host first (kernels/pooled_lookup_cpu.h: find_out_of_range). Every entry point only
// enqueues work on `stream` and returns the first CUDA error it met; it never synchronizes.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace torchrec::cuda_kernels {

// ---------------------------------------------------------------------------------------------
// Forward: every (feature, sample) bag of every table in one launch.

// How a feature's rows are read; chosen on the host by plan_forward from dim, dtype and alignment.
enum RowLoad : int32_t {
  kLoadF32Scalar = 0,
  kLoadF32Vec4 = 1,  // float4, dim % 4 == 0, rows 16-byte aligned
  kLoadF16Scalar = 2,
  kLoadF16Vec4 = 3,  // 4 halves (8 bytes), dim % 4 == 0
  kLoadF16Vec8 = 4,  // half2 x 4 (16 bytes), dim % 8 == 0
};

// One output block: a KJT key looked up in one table. The array lives in device memory.
struct ForwardFeature {
  const void* rows = nullptr;  // device [num_rows][dim], float or IEEE half bits
  int64_t dim = 0;
  int64_t key = 0;                // KJT key index: its bags are offsets[key*B + b]
  int64_t out_column = 0;         // first column of this block in an output row
  int32_t half = 0;               // 1: fp16 rows (accumulate fp32, round the pooled value once to fp16)
  int32_t mean = 0;               // 1: MEAN pooling (an empty bag gives 0)
  int32_t load = kLoadF32Scalar;  // set by plan_forward
  int32_t pad = 0;
};

struct ForwardPlan {
  int32_t group_log2 = 0;  // 2^group_log2 lanes (1..32) pool one bag
};

// Fills each feature's `load` and picks the lanes per bag. `features` is a HOST array (the same
// descriptors the caller then copies to the device).
ForwardPlan plan_forward(ForwardFeature* features, int32_t num_features);

struct ForwardArgs {
  const ForwardFeature* features = nullptr;  // device, num_features entries, planned
  int32_t num_features = 0;
  const int64_t* offsets = nullptr;  // device, keys*B + 1 entries
  const void* ids = nullptr;         // device, int32 or int64
  int32_t ids_int64 = 1;
  const float* per_value_weights = nullptr;  // device, one per id; null when unweighted
  int64_t batch = 0;                         // B
  float* out = nullptr;                      // device [B][out_width]; every block is written
  int64_t out_width = 0;
};

cudaError_t pooled_lookup_forward_cuda(const ForwardArgs& args, const ForwardPlan& plan, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// Backward + optimizer: ids sorted per table, duplicates aggregated, one update per touched row.

enum OptimizerKind : int32_t {
  kOptNone = -1,  // table not trained: its features must not be passed to sparse_update_cuda
  kOptExactSgd = 0,
  kOptExactAdagrad = 1,
  kOptExactRowwiseAdagrad = 2,
  kOptAdam = 3,
  kOptPartialRowwiseAdam = 4,
  kOptLamb = 5,
};

enum WeightDecay : int32_t { kWdNone = 0, kWdL2 = 1, kWdDecoupled = 2 };  // FBGEMM's numbering

// One table being trained. The array lives in device memory.
struct UpdateTable {
  void* rows = nullptr;  // device [num_rows][dim], float or half; updated in place
  int64_t num_rows = 0;
  int64_t dim = 0;
  int64_t row_offset = 0;  // first linear row: the sum of num_rows of the tables before it
  int32_t half = 0;
  int32_t optimizer = kOptExactSgd;
  // fp32 state, zero-initialised by the caller: momentum1 is [N][D] for EXACT_ADAGRAD, ADAM,
  // PARTIAL_ROWWISE_ADAM, LAMB and [N] for EXACT_ROWWISE_ADAGRAD; momentum2 is [N][D] for ADAM and
  // LAMB, [N] for PARTIAL_ROWWISE_ADAM; unused ones may be null.
  float* momentum1 = nullptr;
  float* momentum2 = nullptr;
  float lr = 0.0f;  // this step's learning rate
  float eps = 1e-8f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float weight_decay = 0.0f;
  int32_t weight_decay_mode = kWdNone;  // EXACT_ROWWISE_ADAGRAD only
  float bias1 = 1.0f;                   // 1 - beta1^t (FBGEMM: 1.0 - powf(beta1, iter)), computed on the host
  float bias2 = 1.0f;                   // 1 - beta2^t
};

// One output block whose gradient flows into a trained table. The array lives in device memory.
struct UpdateFeature {
  int64_t key = 0;
  int64_t table = 0;  // index into the UpdateTable array
  int64_t out_column = 0;
  int64_t value_begin = 0;  // offsets[key*B]: the key's first id (host-computed)
  int64_t entry_base = 0;   // this feature's first entry: the sum of earlier features' id counts
  int32_t mean = 0;
  int32_t pad = 0;
};

struct SparseUpdateArgs {
  const UpdateFeature* features = nullptr;  // device
  int32_t num_features = 0;
  const UpdateTable* tables = nullptr;  // device, sorted by row_offset (table order)
  int32_t num_tables = 0;
  const int64_t* offsets = nullptr;  // device, keys*B + 1
  const void* ids = nullptr;         // device
  int32_t ids_int64 = 1;
  const float* per_value_weights = nullptr;  // device or null
  int64_t batch = 0;
  const float* grad_output = nullptr;  // device [B][out_width], dLoss/dPooled
  int64_t out_width = 0;
  int64_t num_entries = 0;    // sum over features of their id counts (< 2^31)
  int64_t total_rows = 0;     // sum of num_rows over the tables (sizes the radix sort)
  int64_t max_dim = 0;        // largest dim among the tables (<= kMaxUpdateDim)
  void* workspace = nullptr;  // device, sparse_update_workspace_bytes(num_entries) bytes
  size_t workspace_bytes = 0;
};

constexpr int64_t kMaxUpdateDim = 8192;  // the aggregated row gradient is held in shared memory

// Device scratch that sparse_update_cuda needs for `num_entries` entries (sort buffers, segments,
// CUB temporary storage). Host-only computation; no work is enqueued.
cudaError_t sparse_update_workspace_bytes(int64_t num_entries, size_t* bytes);

cudaError_t sparse_update_cuda(const SparseUpdateArgs& args, cudaStream_t stream);

}  // namespace torchrec::cuda_kernels
