// tableNorms of the sharded collection: the-algorithm-ml's mean row norm over the same sampled rows
// as one process (kernels::sampled_rows, seeded by rank 0's seed), with the same double sums in the
// same order, so every rank gets exactly the unsharded numbers. A row's sum of squares runs through
// the table's shards in order (row shards add their rows, column shards their columns in turn), each
// owner broadcasting the running sums to the next: at most S broadcasts of one double per sampled row.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "distributed/sharded_collection.h"
#include "kernels/table_norms_cpu.h"

namespace torchrec::distributed {
namespace {

// Adds to sums[i] the squares of shard `s`'s columns of sampled row rows[i], for its rows, read from
// local store table `j` in chunks (never the whole shard at once).
void add_squares(const TableStore& store, int64_t j, const Shard& s, const std::vector<int64_t>& rows, double* sums) {
  constexpr int64_t kChunk = 1 << 16;
  const int64_t end_row = s.first_row + s.rows;
  auto it = std::lower_bound(rows.begin(), rows.end(), s.first_row);
  const auto end = std::lower_bound(rows.begin(), rows.end(), end_row);
  while (it != end) {
    const int64_t lo = *it;
    const int64_t hi = std::min(lo + kChunk, end_row);
    const at::Tensor part = store.read_rows(j, lo - s.first_row, hi - lo).to(at::kFloat).contiguous();
    const float* w = part.data_ptr<float>();
    for (; it != end && *it < hi; ++it) {
      double sum = sums[it - rows.begin()];
      const float* row = w + (*it - lo) * s.cols;
      for (int64_t c = 0; c < s.cols; ++c) {
        const double x = row[c];
        sum += x * x;
      }
      sums[it - rows.begin()] = sum;
    }
  }
}

}  // namespace

std::vector<double> ShardedEmbeddingBagCollection::table_norms(const std::vector<std::string>& tables, int64_t max_rows,
                                                               uint64_t seed) const {
  std::vector<int64_t> indices;
  std::exception_ptr error;
  try {
    if (max_rows <= 0) fail(ErrorCode::InvalidArgument, "tableNorms: the sample size must be positive, got ", max_rows);
    for (const auto& name : tables) indices.push_back(plan_.table_index(name));
  } catch (...) {
    error = std::current_exception();
  }
  // Every rank's verdict, carrying rank 0's seed: a seed drawn at random differs between ranks.
  const uint64_t common = static_cast<uint64_t>(agree(static_cast<int64_t>(seed), error, "tableNorms")[0]);
  std::vector<double> norms;
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t t = indices[k];
    const uint64_t s = common + k;
    if (placement_[t].kind == ShardingKind::DataParallel) {  // whole on every rank
      norms.push_back(store_->mean_row_norm(local_shard(t), max_rows, s));
      continue;
    }
    const std::vector<int64_t> rows = kernels::sampled_rows(plan_.tables()[t].num_embeddings, max_rows, s);
    at::Tensor sums = at::zeros({static_cast<int64_t>(rows.size())}, at::kDouble);
    for (const Shard& shard : shards_) {
      if (shard.table != t) continue;
      if (shard.rank == rank_) add_squares(*store_, local_shard(t), shard, rows, sums.data_ptr<double>());
      group_->broadcast(sums, shard.rank);
    }
    double* sp = sums.data_ptr<double>();
    for (int64_t i = 0; i < sums.numel(); ++i) sp[i] = std::sqrt(sp[i]);
    norms.push_back(kernels::mean_of_row_norms(rows.data(), sp, static_cast<int64_t>(rows.size())));
  }
  return norms;
}

}  // namespace torchrec::distributed
