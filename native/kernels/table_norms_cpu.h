// the-algorithm-ml's log_ebc_norms (common/log_weights.py) for one table:
// weight[randperm(N)[:min(sample, N)]].norm(dim=1).mean(). With N <= sample every row is used (the
// permutation does not change a mean); above it, `sample` distinct rows are drawn uniformly.
#pragma once

#include <cstdint>

namespace torchrec::kernels {

// Mean L2 norm over rows of a [num_rows][dim] float or fp16 table; norms and the mean are
// accumulated in double. `seed` picks the sample when num_rows > max_rows.
double mean_row_norm(const void* rows, bool half, int64_t num_rows, int64_t dim, int64_t max_rows, uint64_t seed);

}  // namespace torchrec::kernels
