// the-algorithm-ml's log_ebc_norms (common/log_weights.py) for one table:
// weight[randperm(N)[:min(sample, N)]].norm(dim=1).mean(). With N <= sample every row is used (the
// permutation does not change a mean); above it, `sample` distinct rows are drawn uniformly.
#pragma once

#include <cstdint>
#include <vector>

namespace torchrec::kernels {

// Mean L2 norm over rows of a [num_rows][dim] float or fp16 table; norms and the mean are
// accumulated in double. `seed` picks the sample when num_rows > max_rows.
double mean_row_norm(const void* rows, bool half, int64_t num_rows, int64_t dim, int64_t max_rows, uint64_t seed);

// The same computation in pieces, for a table whose rows or columns are spread over processes: the
// rows mean_row_norm reads (ascending), and the mean of those rows' norms summed in its order.
std::vector<int64_t> sampled_rows(int64_t num_rows, int64_t max_rows, uint64_t seed);
double mean_of_row_norms(const int64_t* rows, const double* norms, int64_t count);

}  // namespace torchrec::kernels
