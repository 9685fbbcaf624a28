// Input distribution of the sharded collection: each rank bucketizes its batch's ids by the shard
// that owns their row (rebased to the shard's first row; a managed table's raw ids by managed_shard) and sends, per
// destination rank, the bag lengths, then the ids, then the per-value weights (three all-to-alls whose sizes every rank
// can derive: batch sizes were exchanged first, id counts follow from the lengths). The receiver lays what it got out
// as one key-major KJT over its local lookup's features, samples of rank 0 first.
#include "core/error.h"
#include "distributed/sharded_collection.h"

namespace torchrec::distributed {

ShardedEmbeddingBagCollection::Received ShardedEmbeddingBagCollection::distribute_ids(const PlannedBatch& batch,
                                                                                      std::vector<int64_t> batch_sizes,
                                                                                      bool backward) const {
  Received r;
  r.batch_sizes = std::move(batch_sizes);
  r.sample_offset.resize(world_);
  for (int s = 0; s < world_; ++s) {
    r.sample_offset[s] = r.total;
    r.total += r.batch_sizes[s];
  }
  const KeyedJaggedTensor& kjt = batch.kjt();
  const int64_t B = batch.batch_size();
  const int64_t* offsets = kjt.offsets().data();
  const bool ids64 = kjt.values().scalar_type() == at::kLong;
  const int64_t* ids_l = ids64 ? kjt.values().data_ptr<int64_t>() : nullptr;
  const int32_t* ids_i = ids64 ? nullptr : kjt.values().data_ptr<int32_t>();
  const float* weights = batch.per_value_weights();
  const bool weighted = plan_.is_weighted();

  std::vector<int64_t> lengths, ids;
  std::vector<float> wts;
  std::vector<int64_t> len_splits(world_, 0), id_splits(world_, 0);
  for (int d = 0; d < world_; ++d) {
    const size_t len_before = lengths.size(), id_before = ids.size();
    for (const Shard& s : shards_) {
      if (s.rank != d || !sends(rank_, s, backward)) continue;
      const int64_t lo = s.first_row, hi = s.first_row + s.rows;
      const bool raw = plan_.tables()[s.table].raw_ids;  // managed: raw ids, routed by managed_shard
      for (size_t k = 0; k < plan_.outputs().size(); ++k) {
        if (plan_.outputs()[k].table != s.table) continue;
        const int64_t key = batch.block_key(k);
        for (int64_t b = 0; b < B; ++b) {
          int64_t count = 0;
          for (int64_t p = offsets[key * B + b]; p < offsets[key * B + b + 1]; ++p) {
            const int64_t id = ids64 ? ids_l[p] : static_cast<int64_t>(ids_i[p]);
            if (raw) {
              if (managed_shard(s.table, id) != s.index) continue;
              ids.push_back(id);
            } else {
              if (id < lo || id >= hi) continue;
              ids.push_back(id - lo);
            }
            if (weighted) wts.push_back(weights[p]);
            ++count;
          }
          lengths.push_back(count);
        }
      }
    }
    len_splits[d] = static_cast<int64_t>(lengths.size() - len_before);
    id_splits[d] = static_cast<int64_t>(ids.size() - id_before);
  }

  const std::vector<OutputBlock> none;
  const auto& blocks = local_plan_ ? local_plan_->outputs() : none;
  const int64_t num_keys = static_cast<int64_t>(blocks.size());
  std::vector<int64_t> len_recv_splits(world_, 0);
  for (int s = 0; s < world_; ++s) {
    for (int64_t i = 0; i < num_keys; ++i) {
      if (sends(s, shards_[local_block_shard_[i]], backward)) len_recv_splits[s] += r.batch_sizes[s];
    }
  }
  at::Tensor len_t = at::from_blob(lengths.data(), {static_cast<int64_t>(lengths.size())}, at::kLong);
  const at::Tensor len_recv = group_->alltoall_base(len_t, len_splits, len_recv_splits).contiguous();
  const int64_t* lr = len_recv.data_ptr<int64_t>();

  // Where each received bag's ids start in the received ids, and the local KJT's lengths.
  at::Tensor local_lengths = at::zeros({num_keys * r.total}, at::kLong);
  int64_t* ll = local_lengths.data_ptr<int64_t>();
  std::vector<int64_t> start(num_keys * r.total, 0);
  std::vector<int64_t> id_recv_splits(world_, 0);
  int64_t pos = 0, id_pos = 0;
  for (int s = 0; s < world_; ++s) {
    for (int64_t i = 0; i < num_keys; ++i) {
      if (!sends(s, shards_[local_block_shard_[i]], backward)) continue;
      for (int64_t b = 0; b < r.batch_sizes[s]; ++b) {
        const int64_t bag = i * r.total + r.sample_offset[s] + b;
        ll[bag] = lr[pos++];
        start[bag] = id_pos;
        id_pos += ll[bag];
        id_recv_splits[s] += ll[bag];
      }
    }
  }
  at::Tensor ids_t = at::from_blob(ids.data(), {static_cast<int64_t>(ids.size())}, at::kLong);
  const at::Tensor ids_recv = group_->alltoall_base(ids_t, id_splits, id_recv_splits).contiguous();
  at::Tensor wts_recv;
  if (weighted) {
    at::Tensor w_t = at::from_blob(wts.data(), {static_cast<int64_t>(wts.size())}, at::kFloat);
    wts_recv = group_->alltoall_base(w_t, id_splits, id_recv_splits).contiguous();
  }
  if (!local_plan_) return r;

  // Key-major: every bag of local feature 0 (all source ranks' samples in order), then feature 1, ...
  at::Tensor values = at::empty({id_pos}, at::kLong);
  at::Tensor local_weights = weighted ? at::empty({id_pos}, at::kFloat) : at::Tensor();
  int64_t* v = values.data_ptr<int64_t>();
  const int64_t* ir = ids_recv.data_ptr<int64_t>();
  float* w = weighted ? local_weights.data_ptr<float>() : nullptr;
  const float* wr = weighted ? wts_recv.data_ptr<float>() : nullptr;
  int64_t n = 0;
  for (int64_t bag = 0; bag < num_keys * r.total; ++bag) {
    for (int64_t p = start[bag]; p < start[bag] + ll[bag]; ++p, ++n) {
      v[n] = ir[p];
      if (w != nullptr) w[n] = wr[p];
    }
  }
  std::vector<std::string> keys;
  for (const auto& block : blocks) keys.push_back(block.feature);
  r.kjt.emplace(KeyedJaggedTensor::from_lengths(std::move(keys), values, local_lengths, local_weights, r.total));
  return r;
}

}  // namespace torchrec::distributed
