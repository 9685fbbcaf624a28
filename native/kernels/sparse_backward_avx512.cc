// The CPU backward's row loop (sparse_backward_rows.h) compiled for AVX-512 (F, VL, BW, DQ): the gradient
// sums and the optimizers' row arithmetic vectorized as AVX-512 (512-bit) loops. sparse_backward_cpu.cc
// calls in only after a runtime CPU check. Multiply and add are never fused, so this copy gives the
// portable one's bits.
// prfchw: a row about to be written is prefetched with PREFETCHW (every AVX-512 CPU has it), so the
// line arrives ready to be written instead of being fetched shared and then upgraded.
#pragma GCC optimize("fp-contract=off")

#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/row_math.h"
#include "kernels/sparse_backward_detail.h"

#if defined(__x86_64__) || defined(__i386__)

#define TORCHREC_BWD_NS avx512
#define TORCHREC_BWD_TARGET \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c,prfchw,prefer-vector-width=512")))
#include "kernels/sparse_backward_rows.h"

namespace torchrec::kernels::detail {

void update_rows_avx512(const RowJob& job, int64_t first, int64_t last, float* buffers) {
  avx512::update_rows(job, first, last, buffers);
}

}  // namespace torchrec::kernels::detail

#endif
