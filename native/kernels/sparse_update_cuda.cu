// Sparse backward with FBGEMM's exact fused optimizers on the GPU (test/fixtures/golden/OPTIMIZERS.md),
// the way FBGEMM's embedding_backward_split_template.cu does it:
//   1. expand: one entry per (feature, id): key = table.row_offset + id (a linear row over all tables,
//      so a table read by several features gathers all of them), the entry's gradient row offset
//      b*W + column, and its scale (per-value weight; MEAN's 1/L);
//   2. cub::DeviceRadixSort of the keys with the entry numbers as payload (stable: equal rows keep
//      entry order), cub::DeviceRunLengthEncode into unique rows + counts, an exclusive scan for the
//      segment starts;
//   3. one thread block per unique row: sum the segment's gradient rows (times their scales) into
//      shared memory, then apply the table's optimizer to the row once, with block reductions for the
//      row-wise terms (mean of g^2, LAMB's ||w|| and ||u||).
// Rows not in the batch and their state are never touched. Everything is enqueued on one stream.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cub/cub.cuh>

#include "kernels/cuda_kernels.h"

namespace torchrec::cuda_kernels {
namespace {

constexpr int kExpandBlock = 256;
constexpr int kMaxUpdateBlock = 256;
constexpr size_t kAlign = 256;

size_t align_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

// Where each buffer sits in the caller's workspace; the same arithmetic sizes and slices it.
struct Workspace {
  uint64_t* keys_in = nullptr;
  uint64_t* keys_sorted = nullptr;
  int32_t* entry_in = nullptr;
  int32_t* entry_sorted = nullptr;
  int64_t* grad_offset = nullptr;  // per entry: b * out_width + out_column
  float* scale = nullptr;          // per entry: per-value weight * (MEAN ? 1/L : 1)
  uint64_t* unique_keys = nullptr;
  int32_t* counts = nullptr;
  int32_t* starts = nullptr;
  int32_t* num_runs = nullptr;
  void* cub_temp = nullptr;
  size_t cub_temp_bytes = 0;
  size_t total_bytes = 0;
};

cudaError_t cub_temp_bytes(int n, size_t* bytes) {
  size_t sort = 0, rle = 0, scan = 0;
  cudaError_t err = cub::DeviceRadixSort::SortPairs(
      nullptr, sort, static_cast<const uint64_t*>(nullptr), static_cast<uint64_t*>(nullptr),
      static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), n);
  if (err != cudaSuccess) return err;
  err = cub::DeviceRunLengthEncode::Encode(nullptr, rle, static_cast<const uint64_t*>(nullptr),
                                           static_cast<uint64_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                           static_cast<int32_t*>(nullptr), n);
  if (err != cudaSuccess) return err;
  err = cub::DeviceScan::ExclusiveSum(nullptr, scan, static_cast<const int32_t*>(nullptr),
                                      static_cast<int32_t*>(nullptr), n);
  if (err != cudaSuccess) return err;
  *bytes = std::max(sort, std::max(rle, scan));
  return cudaSuccess;
}

cudaError_t layout(int64_t num_entries, void* base, Workspace* ws) {
  if (num_entries < 0 || num_entries >= INT_MAX) return cudaErrorInvalidValue;
  const int n = static_cast<int>(num_entries);
  const size_t un = static_cast<size_t>(std::max(n, 1));
  size_t temp = 0;
  if (const cudaError_t err = cub_temp_bytes(n, &temp); err != cudaSuccess) return err;
  char* p = static_cast<char*>(base);
  size_t at = 0;
  auto take = [&](size_t bytes) -> void* {
    void* q = p == nullptr ? nullptr : p + at;
    at += align_up(bytes);
    return q;
  };
  ws->keys_in = static_cast<uint64_t*>(take(un * sizeof(uint64_t)));
  ws->keys_sorted = static_cast<uint64_t*>(take(un * sizeof(uint64_t)));
  ws->entry_in = static_cast<int32_t*>(take(un * sizeof(int32_t)));
  ws->entry_sorted = static_cast<int32_t*>(take(un * sizeof(int32_t)));
  ws->grad_offset = static_cast<int64_t*>(take(un * sizeof(int64_t)));
  ws->scale = static_cast<float*>(take(un * sizeof(float)));
  ws->unique_keys = static_cast<uint64_t*>(take(un * sizeof(uint64_t)));
  ws->counts = static_cast<int32_t*>(take(un * sizeof(int32_t)));
  ws->starts = static_cast<int32_t*>(take(un * sizeof(int32_t)));
  ws->num_runs = static_cast<int32_t*>(take(sizeof(int32_t)));
  ws->cub_temp_bytes = std::max<size_t>(temp, 1);
  ws->cub_temp = take(ws->cub_temp_bytes);
  ws->total_bytes = at;
  return cudaSuccess;
}

// ---- 1. expand ------------------------------------------------------------------------------

template <typename Id>
__global__ void expand_kernel(SparseUpdateArgs a, Workspace ws) {
  const int64_t total = static_cast<int64_t>(a.num_features) * a.batch;
  const Id* ids = static_cast<const Id*>(a.ids);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t fi = i / a.batch;
    const int64_t b = i - fi * a.batch;
    const UpdateFeature f = a.features[fi];
    const int64_t kb = f.key * a.batch + b;
    const int64_t begin = a.offsets[kb];
    const int64_t end = a.offsets[kb + 1];
    const uint64_t row_offset = static_cast<uint64_t>(a.tables[f.table].row_offset);
    // FBGEMM puts MEAN's 1/L into the per-occurrence weight.
    const float mean_scale = f.mean && end > begin ? 1.0f / static_cast<float>(end - begin) : 1.0f;
    const int64_t goff = b * a.out_width + f.out_column;
    for (int64_t p = begin; p < end; ++p) {
      const int64_t e = f.entry_base + (p - f.value_begin);
      ws.keys_in[e] = row_offset + static_cast<uint64_t>(ids[p]);
      ws.entry_in[e] = static_cast<int32_t>(e);
      ws.grad_offset[e] = goff;
      ws.scale[e] = a.per_value_weights != nullptr ? a.per_value_weights[p] * mean_scale : mean_scale;
    }
  }
}

// ---- 3. aggregate + update ------------------------------------------------------------------

// Sum over the block; every thread gets the same value (partials added in one fixed order).
// `red` holds 2 * 32 floats of shared memory.
__device__ __forceinline__ float2 block_sum2(float x, float y, float* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    x += __shfl_xor_sync(0xffffffffu, x, o);
    y += __shfl_xor_sync(0xffffffffu, y, o);
  }
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  __syncthreads();  // an earlier call's readers are done with red
  if ((threadIdx.x & 31) == 0) {
    red[warp] = x;
    red[32 + warp] = y;
  }
  __syncthreads();
  float2 s = make_float2(0.0f, 0.0f);
  const int warps = static_cast<int>(blockDim.x) >> 5;
  for (int w = 0; w < warps; ++w) {
    s.x += red[w];
    s.y += red[32 + w];
  }
  return s;
}

__device__ __forceinline__ float load_w(const float* r, int64_t d) {
  return r[d];
}
__device__ __forceinline__ float load_w(const __half* r, int64_t d) {
  return __half2float(r[d]);
}
__device__ __forceinline__ void store_w(float* r, int64_t d, float v) {
  r[d] = v;
}
__device__ __forceinline__ void store_w(__half* r, int64_t d, float v) {
  r[d] = __float2half_rn(v);
}

// Applies the table's rule to `row`. g (shared memory, dim floats) is the aggregated gradient; each
// thread reads and writes only its own columns d = tid, tid + blockDim, ... of g, w and per-element
// state. Row-wise state is read by every thread before a reduction and written by thread 0 after it.
template <typename Row>
__device__ void update_row(const UpdateTable& t, int64_t row, float* g, float* red) {
  const int64_t dim = t.dim;
  Row* w = static_cast<Row*>(t.rows) + row * dim;
  const int64_t tid = threadIdx.x;
  const int64_t step = blockDim.x;
  const float lr = t.lr, eps = t.eps, b1 = t.beta1, b2 = t.beta2, wd = t.weight_decay;
  switch (t.optimizer) {
    case kOptExactSgd: {
      for (int64_t d = tid; d < dim; d += step) store_w(w, d, load_w(w, d) - lr * g[d]);
      break;
    }
    case kOptExactAdagrad: {
      float* m = t.momentum1 + row * dim;
      for (int64_t d = tid; d < dim; d += step) {
        const float md = m[d] + g[d] * g[d];
        m[d] = md;
        store_w(w, d, load_w(w, d) - lr * g[d] / (sqrtf(md) + eps));
      }
      break;
    }
    case kOptExactRowwiseAdagrad: {
      const bool l2 = t.weight_decay_mode == kWdL2;
      float part = 0.0f;
      for (int64_t d = tid; d < dim; d += step) {
        const float gd = l2 ? g[d] + wd * load_w(w, d) : g[d];
        part += gd * gd;
      }
      const float m_old = t.momentum1[row];
      const float sum_sq = block_sum2(part, 0.0f, red).x;
      const float m = m_old + sum_sq / static_cast<float>(dim);
      if (tid == 0) t.momentum1[row] = m;
      const float mult = lr / (sqrtf(m) + eps);
      float corr = 1.0f;
      if (t.weight_decay_mode == kWdL2) corr = 1.0f - mult * wd;
      if (t.weight_decay_mode == kWdDecoupled) corr = 1.0f - lr * wd;
      for (int64_t d = tid; d < dim; d += step) store_w(w, d, corr * load_w(w, d) - mult * g[d]);
      break;
    }
    case kOptAdam: {
      float* m = t.momentum1 + row * dim;
      float* v = t.momentum2 + row * dim;
      for (int64_t d = tid; d < dim; d += step) {
        const float gd = g[d];
        const float md = b1 * m[d] + (1.0f - b1) * gd;
        const float vd = b2 * v[d] + (1.0f - b2) * gd * gd;
        m[d] = md;
        v[d] = vd;
        const float wv = load_w(w, d);
        store_w(w, d, wv - lr * ((md / t.bias1) / (sqrtf(vd / t.bias2) + eps) + wd * wv));
      }
      break;
    }
    case kOptPartialRowwiseAdam: {
      float part = 0.0f;
      for (int64_t d = tid; d < dim; d += step) part += g[d] * g[d];
      const float v_old = t.momentum2[row];
      const float sum_sq = block_sum2(part, 0.0f, red).x;
      const float v = b2 * v_old + (1.0f - b2) * (sum_sq / static_cast<float>(dim));
      if (tid == 0) t.momentum2[row] = v;
      const float denom = sqrtf(v / t.bias2) + eps;
      float* m = t.momentum1 + row * dim;
      for (int64_t d = tid; d < dim; d += step) {
        const float md = b1 * m[d] + (1.0f - b1) * g[d];
        m[d] = md;
        const float wv = load_w(w, d);
        store_w(w, d, wv - lr * ((md / t.bias1) / denom + wd * wv));
      }
      break;
    }
    case kOptLamb: {
      float* m = t.momentum1 + row * dim;
      float* v = t.momentum2 + row * dim;
      float w_sq = 0.0f, u_sq = 0.0f;
      for (int64_t d = tid; d < dim; d += step) {
        const float gd = g[d];
        const float md = b1 * m[d] + (1.0f - b1) * gd;
        const float vd = b2 * v[d] + (1.0f - b2) * gd * gd;
        m[d] = md;
        v[d] = vd;
        const float wv = load_w(w, d);
        const float u = (md / t.bias1) / (sqrtf(vd / t.bias2) + eps) + wd * wv;
        g[d] = u;  // g[d] is this thread's alone: keep u there for the second pass
        w_sq += wv * wv;
        u_sq += u * u;
      }
      const float2 norms = block_sum2(w_sq, u_sq, red);
      const float ratio = sqrtf(norms.x) / sqrtf(norms.y);  // no guard for ||u|| = 0, as FBGEMM
      for (int64_t d = tid; d < dim; d += step) store_w(w, d, load_w(w, d) - lr * ratio * g[d]);
      break;
    }
    default: break;
  }
}

__device__ __forceinline__ int32_t find_table(const UpdateTable* tables, int32_t num_tables, uint64_t key) {
  int32_t lo = 0, hi = num_tables - 1;  // the last table whose row_offset <= key
  while (lo < hi) {
    const int32_t mid = (lo + hi + 1) / 2;
    if (static_cast<uint64_t>(tables[mid].row_offset) <= key) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

__global__ void update_kernel(SparseUpdateArgs a, Workspace ws) {
  extern __shared__ float smem[];
  float* red = smem;     // 64 floats
  float* g = smem + 64;  // max_dim floats
  const int32_t runs = *ws.num_runs;
  for (int32_t seg = blockIdx.x; seg < runs; seg += gridDim.x) {
    const uint64_t key = ws.unique_keys[seg];
    const int32_t start = ws.starts[seg];
    const int32_t count = ws.counts[seg];
    const UpdateTable& t = a.tables[find_table(a.tables, a.num_tables, key)];
    const int64_t row = static_cast<int64_t>(key - static_cast<uint64_t>(t.row_offset));
    for (int64_t d = threadIdx.x; d < t.dim; d += blockDim.x) {
      float acc = 0.0f;
      for (int32_t j = start; j < start + count; ++j) {
        const int32_t e = ws.entry_sorted[j];
        acc += a.grad_output[ws.grad_offset[e] + d] * ws.scale[e];
      }
      g[d] = acc;
    }
    if (t.half) {
      update_row<__half>(t, row, g, red);
    } else {
      update_row<float>(t, row, g, red);
    }
  }
}

int update_block_threads(int64_t max_dim) {
  const int64_t warps = (std::max<int64_t>(max_dim, 1) + 31) / 32;
  return static_cast<int>(std::min<int64_t>(warps * 32, kMaxUpdateBlock));
}

}  // namespace

cudaError_t sparse_update_workspace_bytes(int64_t num_entries, size_t* bytes) {
  Workspace ws;
  const cudaError_t err = layout(num_entries, nullptr, &ws);
  if (err != cudaSuccess) return err;
  *bytes = ws.total_bytes;
  return cudaSuccess;
}

cudaError_t sparse_update_cuda(const SparseUpdateArgs& args, cudaStream_t stream) {
  if (args.num_entries == 0 || args.num_features == 0 || args.batch == 0) return cudaSuccess;
  if (args.num_tables <= 0 || args.max_dim <= 0 || args.max_dim > kMaxUpdateDim || args.total_rows <= 0 ||
      args.workspace == nullptr) {
    return cudaErrorInvalidValue;
  }
  Workspace ws;
  cudaError_t err = layout(args.num_entries, args.workspace, &ws);
  if (err != cudaSuccess) return err;
  if (ws.total_bytes > args.workspace_bytes) return cudaErrorInvalidValue;
  const int n = static_cast<int>(args.num_entries);

  int device = 0, sms = 0;
  if ((err = cudaGetDevice(&device)) != cudaSuccess) return err;
  if ((err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device)) != cudaSuccess) return err;

  // 1. expand
  const int64_t pairs = static_cast<int64_t>(args.num_features) * args.batch;
  const int64_t expand_blocks = std::min<int64_t>((pairs + kExpandBlock - 1) / kExpandBlock, int64_t{sms} * 32);
  if (args.ids_int64) {
    expand_kernel<int64_t><<<static_cast<unsigned>(expand_blocks), kExpandBlock, 0, stream>>>(args, ws);
  } else {
    expand_kernel<int32_t><<<static_cast<unsigned>(expand_blocks), kExpandBlock, 0, stream>>>(args, ws);
  }
  if ((err = cudaGetLastError()) != cudaSuccess) return err;

  // 2. sort by linear row (only the bits a row number can use), segment into unique rows
  int end_bit = 1;
  while (end_bit < 64 && (uint64_t{1} << end_bit) < static_cast<uint64_t>(args.total_rows)) ++end_bit;
  size_t temp = ws.cub_temp_bytes;
  err = cub::DeviceRadixSort::SortPairs(ws.cub_temp, temp, ws.keys_in, ws.keys_sorted, ws.entry_in, ws.entry_sorted, n,
                                        0, end_bit, stream);
  if (err != cudaSuccess) return err;
  // Counts past the number of runs are never written; zero them so the scan reads defined memory.
  if ((err = cudaMemsetAsync(ws.counts, 0, sizeof(int32_t) * static_cast<size_t>(n), stream)) != cudaSuccess) {
    return err;
  }
  temp = ws.cub_temp_bytes;
  err = cub::DeviceRunLengthEncode::Encode(ws.cub_temp, temp, ws.keys_sorted, ws.unique_keys, ws.counts, ws.num_runs, n,
                                           stream);
  if (err != cudaSuccess) return err;
  temp = ws.cub_temp_bytes;
  err = cub::DeviceScan::ExclusiveSum(ws.cub_temp, temp, ws.counts, ws.starts, n, stream);
  if (err != cudaSuccess) return err;

  // 3. one block per unique row. The number of rows stays on the device (no sync): the grid covers
  // what the GPU holds at once and strides over the segments.
  const int threads = update_block_threads(args.max_dim);
  const size_t smem = sizeof(float) * static_cast<size_t>(64 + args.max_dim);
  const int64_t per_sm = std::max<int64_t>(1, 2048 / threads);
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(args.num_entries, int64_t{sms} * per_sm));
  update_kernel<<<static_cast<unsigned>(blocks), threads, smem, stream>>>(args, ws);
  return cudaGetLastError();
}

}  // namespace torchrec::cuda_kernels
