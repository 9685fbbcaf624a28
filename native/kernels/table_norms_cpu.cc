#include "kernels/table_norms_cpu.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_parallel.h"

namespace torchrec::kernels {
namespace {

template <typename Row>
double row_norm(const Row* row, int64_t dim) {
  double sum = 0.0;
  for (int64_t d = 0; d < dim; ++d) {
    const double x = static_cast<float>(row[d]);
    sum += x * x;
  }
  return std::sqrt(sum);
}

// A uniform random k-subset of [0, n) as a bitmap (Floyd's algorithm): O(k) draws and n/8 bytes,
// where randperm(n) would need 8n bytes for a table of billions of rows.
std::vector<uint64_t> sample_rows(int64_t n, int64_t k, uint64_t seed) {
  std::vector<uint64_t> bits(static_cast<size_t>((n + 63) / 64), 0);
  auto test = [&](int64_t i) { return (bits[i >> 6] >> (i & 63)) & 1u; };
  auto set = [&](int64_t i) { bits[i >> 6] |= uint64_t{1} << (i & 63); };
  std::mt19937_64 rng(seed);
  for (int64_t j = n - k; j < n; ++j) {
    const int64_t t = std::uniform_int_distribution<int64_t>(0, j)(rng);
    if (test(t)) {
      set(j);
    } else {
      set(t);
    }
  }
  return bits;
}

// Fixed blocks of rows, each summed in row order, the block sums then in block order: the result does
// not depend on the thread count.
constexpr int64_t kBlock = 1 << 16;

template <typename Row>
double mean_norm(const Row* rows, int64_t num_rows, int64_t dim, const std::vector<uint64_t>* chosen) {
  const int64_t blocks = (num_rows + kBlock - 1) / kBlock;
  std::vector<double> sums(blocks, 0.0);
  std::vector<int64_t> counts(blocks, 0);
  const int threads = static_cast<int>(std::min<int64_t>(intra_op_threads(), blocks));
  fork_join(threads, [&](int thread, int count) {
    for (int64_t blk = thread; blk < blocks; blk += count) {
      const int64_t end = std::min(num_rows, (blk + 1) * kBlock);
      for (int64_t r = blk * kBlock; r < end; ++r) {
        if (chosen != nullptr && !(((*chosen)[r >> 6] >> (r & 63)) & 1u)) continue;
        sums[blk] += row_norm(rows + r * dim, dim);
        ++counts[blk];
      }
    }
  });
  double total = 0.0;
  int64_t count = 0;
  for (int64_t blk = 0; blk < blocks; ++blk) {
    total += sums[blk];
    count += counts[blk];
  }
  return count == 0 ? 0.0 : total / static_cast<double>(count);
}

}  // namespace

double mean_row_norm(const void* rows, bool half, int64_t num_rows, int64_t dim, int64_t max_rows, uint64_t seed) {
  std::vector<uint64_t> chosen;
  const bool sampled = num_rows > max_rows;
  if (sampled) chosen = sample_rows(num_rows, max_rows, seed);
  const std::vector<uint64_t>* mask = sampled ? &chosen : nullptr;
  if (half) return mean_norm(static_cast<const c10::Half*>(rows), num_rows, dim, mask);
  return mean_norm(static_cast<const float*>(rows), num_rows, dim, mask);
}

std::vector<int64_t> sampled_rows(int64_t num_rows, int64_t max_rows, uint64_t seed) {
  std::vector<int64_t> rows;
  if (num_rows <= max_rows) {
    rows.resize(num_rows);
    for (int64_t r = 0; r < num_rows; ++r) rows[r] = r;
    return rows;
  }
  const std::vector<uint64_t> chosen = sample_rows(num_rows, max_rows, seed);
  rows.reserve(max_rows);
  for (int64_t r = 0; r < num_rows; ++r) {
    if ((chosen[r >> 6] >> (r & 63)) & 1u) rows.push_back(r);
  }
  return rows;
}

double mean_of_row_norms(const int64_t* rows, const double* norms, int64_t count) {
  if (count == 0) return 0.0;
  std::vector<double> sums(rows[count - 1] / kBlock + 1, 0.0);
  for (int64_t i = 0; i < count; ++i) sums[rows[i] / kBlock] += norms[i];
  double total = 0.0;
  for (double s : sums) total += s;
  return total / static_cast<double>(count);
}

}  // namespace torchrec::kernels
