// The CPU backward's row loop (sparse_backward_rows.h) compiled for AVX2 + FMA + F16C: the gradient
// sums and the optimizers' row arithmetic vectorized as AVX2 (256-bit) loops. sparse_backward_cpu.cc
// calls in only after a runtime CPU check. Multiply and add are never fused, so this copy gives the
// portable one's bits.
#pragma GCC optimize("fp-contract=off")

#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/row_math.h"
#include "kernels/sparse_backward_detail.h"

#if defined(__x86_64__) || defined(__i386__)

#define TORCHREC_BWD_NS avx2
#define TORCHREC_BWD_TARGET __attribute__((target("avx2,fma,f16c")))
#include "kernels/sparse_backward_rows.h"

namespace torchrec::kernels::detail {

void update_rows_avx2(const RowJob& job, int64_t first, int64_t last, float* buffers) {
  avx2::update_rows(job, first, last, buffers);
}

}  // namespace torchrec::kernels::detail

#endif
