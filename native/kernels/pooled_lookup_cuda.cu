// Fused pooled embedding lookup on the GPU: one launch pools every (feature, sample) bag of every
// table. A group of 2^k lanes (a sub-warp, up to a whole warp) owns one bag; each lane owns column
// chunks of 4 floats (float4 loads) or 8 halves (half2 x 4 in one 16-byte load), accumulates in
// fp32 over the bag's ids in order, applies MEAN's 1/L, rounds once to fp16 for fp16 tables (as the
// CPU kernel and TorchRec do) and writes its columns of the output row. Ids are trusted.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda_kernels.h"

namespace torchrec::cuda_kernels {
namespace {

constexpr int kBlock = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // the kernel strides over any remaining bags
// Rows in flight per lane (the gather is memory-latency bound): 16 floats of loads either way.
template <int W>
struct Unroll {
  static constexpr int value = 16 / W;
};

template <int Load>
struct LoadWidth {
  static constexpr int value = Load == kLoadF16Vec8 ? 8 : 4;
};

__device__ __forceinline__ void unpack_half2(uint32_t bits, float* x) {
  __half2 h;
  static_assert(sizeof(h) == sizeof(bits), "half2 is 32 bits");
  memcpy(&h, &bits, sizeof(bits));
  const float2 f = __half22float2(h);
  x[0] = f.x;
  x[1] = f.y;
}

// Reads the chunk of row `row` that starts at column `col` (LoadWidth columns; past-the-end columns
// of a scalar chunk read as 0) into x, widened to fp32.
template <int Load>
__device__ __forceinline__ void load_chunk(const void* rows, int64_t dim, int64_t row, int64_t col, float* x) {
  if constexpr (Load == kLoadF32Vec4) {
    const float4 v = __ldg(reinterpret_cast<const float4*>(static_cast<const float*>(rows) + row * dim + col));
    x[0] = v.x;
    x[1] = v.y;
    x[2] = v.z;
    x[3] = v.w;
  } else if constexpr (Load == kLoadF16Vec8) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(static_cast<const __half*>(rows) + row * dim + col));
    unpack_half2(v.x, x);
    unpack_half2(v.y, x + 2);
    unpack_half2(v.z, x + 4);
    unpack_half2(v.w, x + 6);
  } else if constexpr (Load == kLoadF16Vec4) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(static_cast<const __half*>(rows) + row * dim + col));
    unpack_half2(v.x, x);
    unpack_half2(v.y, x + 2);
  } else if constexpr (Load == kLoadF16Scalar) {
    const __half* r = static_cast<const __half*>(rows) + row * dim;
#pragma unroll
    for (int j = 0; j < 4; ++j) x[j] = col + j < dim ? __half2float(__ldg(r + col + j)) : 0.0f;
  } else {
    const float* r = static_cast<const float*>(rows) + row * dim;
#pragma unroll
    for (int j = 0; j < 4; ++j) x[j] = col + j < dim ? __ldg(r + col + j) : 0.0f;
  }
}

template <int W, bool Weighted>
__device__ __forceinline__ void add_chunk(float* acc, const float* x, float w) {
#pragma unroll
  for (int j = 0; j < W; ++j) {
    if constexpr (Weighted) {
      acc[j] += w * x[j];
    } else {
      acc[j] += x[j];
    }
  }
}

template <typename Id, int Load, bool Weighted>
__device__ void pool_bag(const ForwardFeature& f, const Id* __restrict__ ids, const float* __restrict__ weights,
                         int64_t begin, int64_t end, int lane, int lanes, float* __restrict__ out_row) {
  constexpr int W = LoadWidth<Load>::value;
  constexpr int kUnroll = Unroll<W>::value;
  const int64_t chunks = (f.dim + W - 1) / W;
  const float scale = f.mean && end > begin ? 1.0f / static_cast<float>(end - begin) : 1.0f;
  for (int64_t c = lane; c < chunks; c += lanes) {
    const int64_t col = c * W;
    float acc[W];
#pragma unroll
    for (int j = 0; j < W; ++j) acc[j] = 0.0f;
    int64_t i = begin;
    // kUnroll rows are loaded before any is added, so their DRAM latencies overlap; the adds stay
    // in id order, as on the CPU.
    for (; i + kUnroll <= end; i += kUnroll) {
      float x[kUnroll][W];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) load_chunk<Load>(f.rows, f.dim, static_cast<int64_t>(ids[i + u]), col, x[u]);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) add_chunk<W, Weighted>(acc, x[u], Weighted ? weights[i + u] : 1.0f);
    }
    for (; i < end; ++i) {
      float x[W];
      load_chunk<Load>(f.rows, f.dim, static_cast<int64_t>(ids[i]), col, x);
      add_chunk<W, Weighted>(acc, x, Weighted ? weights[i] : 1.0f);
    }
#pragma unroll
    for (int j = 0; j < W; ++j) {
      float v = f.mean ? acc[j] * scale : acc[j];
      // An fp16 table's pooled value is an fp16 value in TorchRec: round once, then widen.
      if (f.half) v = __half2float(__float2half_rn(v));
      acc[j] = v;
    }
    float* o = out_row + col;
    if (col + W <= f.dim && (reinterpret_cast<uintptr_t>(o) & 15) == 0) {
#pragma unroll
      for (int j = 0; j < W; j += 4) {
        *reinterpret_cast<float4*>(o + j) = make_float4(acc[j], acc[j + 1], acc[j + 2], acc[j + 3]);
      }
    } else {
#pragma unroll
      for (int j = 0; j < W; ++j) {
        if (col + j < f.dim) o[j] = acc[j];
      }
    }
  }
}

template <typename Id, bool Weighted>
__device__ void pool_bag_dispatch(const ForwardFeature& f, const Id* ids, const float* weights, int64_t begin,
                                  int64_t end, int lane, int lanes, float* out_row) {
  switch (f.load) {
    case kLoadF32Vec4: pool_bag<Id, kLoadF32Vec4, Weighted>(f, ids, weights, begin, end, lane, lanes, out_row); break;
    case kLoadF16Vec8: pool_bag<Id, kLoadF16Vec8, Weighted>(f, ids, weights, begin, end, lane, lanes, out_row); break;
    case kLoadF16Vec4: pool_bag<Id, kLoadF16Vec4, Weighted>(f, ids, weights, begin, end, lane, lanes, out_row); break;
    case kLoadF16Scalar:
      pool_bag<Id, kLoadF16Scalar, Weighted>(f, ids, weights, begin, end, lane, lanes, out_row);
      break;
    default: pool_bag<Id, kLoadF32Scalar, Weighted>(f, ids, weights, begin, end, lane, lanes, out_row); break;
  }
}

// Bags are numbered feature-major (bag = feature * B + b), so the groups of one warp almost always
// pool the same feature and take the same branch.
template <typename Id>
__global__ void __launch_bounds__(kBlock, 3) pooled_forward_kernel(ForwardArgs a, int32_t group_log2) {
  const int lanes = 1 << group_log2;
  const int lane = static_cast<int>(threadIdx.x) & (lanes - 1);
  const int64_t total = static_cast<int64_t>(a.num_features) * a.batch;
  const int64_t stride = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> group_log2;
  const Id* ids = static_cast<const Id*>(a.ids);
  for (int64_t bag = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> group_log2; bag < total;
       bag += stride) {
    const int64_t fi = bag / a.batch;
    const int64_t b = bag - fi * a.batch;
    const ForwardFeature f = a.features[fi];
    const int64_t kb = f.key * a.batch + b;
    const int64_t begin = a.offsets[kb];
    const int64_t end = a.offsets[kb + 1];
    float* out_row = a.out + b * a.out_width + f.out_column;
    if (a.per_value_weights != nullptr) {
      pool_bag_dispatch<Id, true>(f, ids, a.per_value_weights, begin, end, lane, lanes, out_row);
    } else {
      pool_bag_dispatch<Id, false>(f, ids, nullptr, begin, end, lane, lanes, out_row);
    }
  }
}

}  // namespace

ForwardPlan plan_forward(ForwardFeature* features, int32_t num_features) {
  int64_t max_chunks = 1;
  for (int32_t i = 0; i < num_features; ++i) {
    ForwardFeature& f = features[i];
    const auto addr = reinterpret_cast<uintptr_t>(f.rows);
    int width = 4;
    if (f.half) {
      if (f.dim % 8 == 0 && addr % 16 == 0) {
        f.load = kLoadF16Vec8;
        width = 8;
      } else if (f.dim % 4 == 0 && addr % 8 == 0) {
        f.load = kLoadF16Vec4;
      } else {
        f.load = kLoadF16Scalar;
      }
    } else {
      f.load = f.dim % 4 == 0 && addr % 16 == 0 ? kLoadF32Vec4 : kLoadF32Scalar;
    }
    max_chunks = std::max<int64_t>(max_chunks, (f.dim + width - 1) / width);
  }
  ForwardPlan plan;
  while ((int64_t{1} << plan.group_log2) < max_chunks && plan.group_log2 < 5) ++plan.group_log2;
  return plan;
}

cudaError_t pooled_lookup_forward_cuda(const ForwardArgs& args, const ForwardPlan& plan, cudaStream_t stream) {
  if (plan.group_log2 < 0 || plan.group_log2 > 5 || args.batch < 0 || args.num_features < 0) {
    return cudaErrorInvalidValue;
  }
  const int64_t bags = static_cast<int64_t>(args.num_features) * args.batch;
  if (bags == 0) return cudaSuccess;
  const int64_t threads = bags << plan.group_log2;
  const int64_t blocks = std::min<int64_t>((threads + kBlock - 1) / kBlock, kMaxBlocks);
  if (args.ids_int64) {
    pooled_forward_kernel<int64_t><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(args, plan.group_log2);
  } else {
    pooled_forward_kernel<int32_t><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(args, plan.group_log2);
  }
  return cudaGetLastError();
}

}  // namespace torchrec::cuda_kernels
