// The sharded collection's layout (shards, local lookup) and its forward and backward; the id
// exchange is in shard_exchange.cc, weights and optimizer state in sharded_state.cc.
#include "distributed/sharded_collection.h"

#include <c10/util/Half.h>

#include <set>

#include "core/cpu_table_store.h"
#include "core/error.h"
#include "kernels/sparse_backward_cpu.h"

namespace torchrec::distributed {
namespace {

const char* kind_name(ShardingKind k) {
  switch (k) {
    case ShardingKind::TableWise: return "table_wise";
    case ShardingKind::RowWise: return "row_wise";
    case ShardingKind::ColumnWise: return "column_wise";
    default: return "data_parallel";
  }
}

// The global plan's view of the tables: a managed table's ids stay raw (the owners map them).
std::vector<TableSpec> with_raw_managed_ids(std::vector<TableSpec> tables) {
  for (TableSpec& t : tables) t.raw_ids = t.managed.has_value();
  return tables;
}

}  // namespace

ShardedEmbeddingBagCollection::ShardedEmbeddingBagCollection(std::vector<TableSpec> tables, bool is_weighted,
                                                             uint64_t seed,
                                                             std::vector<std::optional<OptimizerSpec>> optimizers,
                                                             std::vector<TablePlacement> placement,
                                                             std::shared_ptr<ProcessGroup> group,
                                                             bool gradient_division, bool stochastic_rounding)
    : plan_(with_raw_managed_ids(std::move(tables)), is_weighted),
      optimizers_(std::move(optimizers)),
      placement_(std::move(placement)),
      group_(std::move(group)),
      gradient_division_(gradient_division),
      seed_(seed) {
  if (!group_) fail(ErrorCode::InvalidArgument, "a sharded EmbeddingBagCollection needs a process group");
  rank_ = group_->rank();
  world_ = group_->world_size();
  const auto& specs = plan_.tables();
  const size_t num_tables = specs.size();
  if (!optimizers_.empty() && optimizers_.size() != num_tables) {
    fail(ErrorCode::InvalidConfig, "got ", optimizers_.size(), " optimizer entries for ", num_tables, " tables");
  }
  optimizers_.resize(num_tables);
  for (size_t t = 0; t < num_tables; ++t) {
    if (optimizers_[t]) validate_optimizer_spec(*optimizers_[t], "tables[" + std::to_string(t) + "].optimizer");
  }
  if (placement_.size() != num_tables) {
    fail(ErrorCode::InvalidConfig, "the sharding plan places ", placement_.size(), " tables, the collection has ",
         num_tables);
  }
  for (size_t t = 0; t < num_tables; ++t) {
    TablePlacement& p = placement_[t];
    const std::string where = "plan[\"" + specs[t].name + "\"]";
    if (p.kind == ShardingKind::DataParallel && p.ranks.empty()) {
      for (int r = 0; r < world_; ++r) p.ranks.push_back(r);
    }
    std::set<int> seen;
    for (int r : p.ranks) {
      if (r < 0 || r >= world_) fail(ErrorCode::InvalidConfig, where, ": rank ", r, " is outside [0, ", world_, ")");
      if (!seen.insert(r).second) fail(ErrorCode::InvalidConfig, where, ": rank ", r, " is listed twice");
    }
    if (p.ranks.empty()) fail(ErrorCode::InvalidConfig, where, ": ", kind_name(p.kind), " needs ranks");
    if (p.kind == ShardingKind::TableWise && p.ranks.size() != 1) {
      fail(ErrorCode::InvalidConfig, where, ": table_wise places a table on one rank, got ", p.ranks.size());
    }
    if (p.kind == ShardingKind::DataParallel && static_cast<int>(p.ranks.size()) != world_) {
      fail(ErrorCode::InvalidConfig, where, ": data_parallel replicates a table on every rank");
    }
    const int64_t n = specs[t].num_embeddings;
    const int64_t dim = specs[t].embedding_dim;
    const int64_t shards = static_cast<int64_t>(p.ranks.size());
    const bool cw = p.kind == ShardingKind::ColumnWise;
    if (cw && dim % shards != 0) {
      fail(ErrorCode::InvalidConfig, where, ": column_wise splits embedding_dim ", dim, " of table \"", specs[t].name,
           "\" into ", shards, " equal blocks, which does not divide");
    }
    const bool managed = specs[t].managed.has_value();
    if (managed && p.kind != ShardingKind::TableWise && p.kind != ShardingKind::RowWise) {
      fail(ErrorCode::InvalidConfig, where, ": table \"", specs[t].name, "\" has managed ids (managed_collision), ",
           "which shard table_wise or row_wise only, not ", kind_name(p.kind));
    }
    has_managed_ = has_managed_ || managed;
    keeps_forward_ = keeps_forward_ && p.kind != ShardingKind::DataParallel;
    const int64_t block = p.kind == ShardingKind::RowWise ? (n + shards - 1) / shards : n;
    table_shard_count_.push_back(0);
    for (int64_t i = 0; i < shards; ++i) {
      Shard s;
      s.table = static_cast<int64_t>(t);
      s.index = table_shard_count_.back();
      s.rank = p.ranks[i];
      s.first_row = p.kind == ShardingKind::RowWise ? std::min(n, i * block) : 0;
      s.rows = p.kind == ShardingKind::RowWise ? std::max<int64_t>(0, std::min(n, (i + 1) * block) - s.first_row) : n;
      s.cols = cw ? dim / shards : dim;
      s.first_col = cw ? i * s.cols : 0;
      if (s.rows == 0) continue;
      if (managed && s.rows < 2) {
        fail(ErrorCode::InvalidConfig, where, ": row_wise leaves shard ", s.index, " of managed table \"",
             specs[t].name, "\" one row; each shard's map needs two or more (rows for ids plus its default row)");
      }
      shards_.push_back(s);
      ++table_shard_count_.back();
    }
  }
  // The local lookup: one table per shard held here, reading one feature per block of its table.
  std::vector<TableSpec> local_specs;
  std::vector<std::optional<OptimizerSpec>> local_optimizers;
  std::vector<TableOrigin> origins;
  for (size_t si = 0; si < shards_.size(); ++si) {
    const Shard& s = shards_[si];
    if (s.rank != rank_) continue;
    local_.push_back(si);
    TableSpec spec = specs[s.table];
    spec.name += "/shard@" + std::to_string(s.rank);
    spec.num_embeddings = s.rows;
    spec.embedding_dim = s.cols;
    spec.raw_ids = false;  // a managed shard maps its ids itself
    // Row-wise shards return partial sums; the requester divides by the global bag length.
    if (placement_[s.table].kind == ShardingKind::RowWise) spec.pooling = Pooling::Sum;
    spec.feature_names.clear();
    for (size_t k = 0; k < plan_.outputs().size(); ++k) {
      if (plan_.outputs()[k].table != s.table) continue;
      spec.feature_names.push_back(std::to_string(k));
      local_blocks_.push_back(static_cast<int64_t>(k));
      local_block_shard_.push_back(si);
    }
    local_specs.push_back(std::move(spec));
    local_optimizers.push_back(optimizers_[s.table]);
    origins.push_back({s.table, s.first_row, s.first_col, placement_[s.table].kind == ShardingKind::RowWise});
  }
  if (!local_specs.empty()) {
    local_plan_ = std::make_unique<LookupPlan>(local_specs, is_weighted);
    // Stochastic rounding keys its bits by the global (table, row, column): shards round as one process does.
    store_ = std::make_unique<CpuTableStore>(local_specs, local_optimizers, seed, origins, stochastic_rounding);
  }
}

bool ShardedEmbeddingBagCollection::sends(int source, const Shard& s, bool backward) const {
  return placement_[s.table].kind != ShardingKind::DataParallel || backward || source == s.rank;
}

std::vector<int64_t> ShardedEmbeddingBagCollection::agree(int64_t batch_size, const std::exception_ptr& error,
                                                          const char* method, bool* reuse) const {
  at::Tensor mine = at::empty({3}, at::kLong);
  mine[0] = error ? int64_t{0} : batch_size;
  mine[1] = error ? int64_t{0} : int64_t{1};
  mine[2] = reuse != nullptr && *reuse ? 1 : 0;
  const at::Tensor all = group_->allgather(mine).contiguous();
  const int64_t* v = all.data_ptr<int64_t>();
  if (error) std::rethrow_exception(error);
  std::vector<int64_t> sizes(world_);
  for (int r = 0; r < world_; ++r) {
    if (v[3 * r + 1] == 0) {
      fail(ErrorCode::InvalidArgument, method, ": rank ", r,
           " rejected its input (its own call failed with the reason), so this collective call was not run");
    }
    sizes[r] = v[3 * r];
    if (reuse != nullptr && v[3 * r + 2] == 0) *reuse = false;
  }
  return sizes;
}

bool ShardedEmbeddingBagCollection::is_kept_forward(const KeyedJaggedTensor& kjt) const {
  if (!kept_ || kept_->keys != kjt.keys() || kept_->stride != kjt.stride()) return false;
  const auto same = [](const at::Tensor& a, const at::Tensor& b) {
    if (a.defined() != b.defined()) return false;
    return !a.defined() || (a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && at::equal(a, b));
  };
  return same(kept_->values, kjt.values()) && kjt.offsets().equals(kept_->offsets) &&
         same(kept_->weights, kjt.weights());
}

// train: a TRAIN-mode forward. The owners of managed tables admit and count the ids as they receive
// them, source rank by source rank, so in the global batch's order; this rank keeps what it received
// for the backward of the same batch (kept_).
void ShardedEmbeddingBagCollection::forward_impl(const KeyedJaggedTensor& kjt, float* out, bool train) const {
  bool entered = false;
  try {
    const PlannedBatch batch = plan_.plan(kjt, "forward", /*count=*/true);
    entered = true;
    kept_.reset();
    std::vector<int64_t> sizes = agree(batch.batch_size(), nullptr, "forward");
    Received in = distribute_ids(batch, std::move(sizes), /*backward=*/false);
    const int64_t width = local_plan_ ? local_plan_->output_width() : 0;
    at::Tensor local_out = at::zeros({in.total, width}, at::kFloat);
    if (local_plan_ && in.total > 0) {
      const PlannedBatch local =
          train ? local_plan_->plan_train(*in.kjt, "forward", step_) : local_plan_->plan(*in.kjt, "forward", false);
      store_->forward(*local_plan_, local, local_out.data_ptr<float>());
    }
    // Pooled rows back to their requesters: for each source, block by block, its samples' rows.
    const auto& blocks = local_plan_ ? local_plan_->outputs() : std::vector<OutputBlock>{};
    std::vector<float> send;
    std::vector<int64_t> send_splits(world_, 0), recv_splits(world_, 0);
    const float* lo = local_out.data_ptr<float>();
    for (int s = 0; s < world_; ++s) {
      const size_t before = send.size();
      for (size_t i = 0; i < blocks.size(); ++i) {
        if (!sends(s, shards_[local_block_shard_[i]], false)) continue;
        for (int64_t b = 0; b < in.batch_sizes[s]; ++b) {
          const float* row = lo + (in.sample_offset[s] + b) * width + blocks[i].column;
          send.insert(send.end(), row, row + blocks[i].dim);
        }
      }
      send_splits[s] = static_cast<int64_t>(send.size() - before);
    }
    const int64_t B = batch.batch_size();
    for (const Shard& s : shards_) {
      if (!sends(rank_, s, false)) continue;
      for (const auto& block : plan_.outputs()) {
        if (block.table == s.table) recv_splits[s.rank] += B * s.cols;
      }
    }
    at::Tensor send_t = at::from_blob(send.data(), {static_cast<int64_t>(send.size())}, at::kFloat);
    const at::Tensor recv = group_->alltoall_base(send_t, send_splits, recv_splits).contiguous();
    const float* rp = recv.data_ptr<float>();
    const int64_t out_width = plan_.output_width();
    std::fill(out, out + B * out_width, 0.0f);
    for (int d = 0; d < world_; ++d) {
      for (const Shard& s : shards_) {
        if (s.rank != d || !sends(rank_, s, false)) continue;
        const bool sum = placement_[s.table].kind == ShardingKind::RowWise;
        for (const auto& block : plan_.outputs()) {
          if (block.table != s.table) continue;
          for (int64_t b = 0; b < B; ++b, rp += s.cols) {
            float* o = out + b * out_width + block.column + s.first_col;
            for (int64_t c = 0; c < s.cols; ++c) o[c] = sum ? o[c] + rp[c] : rp[c];
          }
        }
      }
    }
    // Row-wise bags: MEAN by the global bag length, and an fp16 table's result rounded once, as the
    // unsharded kernel does.
    const int64_t* offsets = batch.kjt().offsets().data();
    for (size_t k = 0; k < plan_.outputs().size(); ++k) {
      const OutputBlock& block = plan_.outputs()[k];
      const TableSpec& spec = plan_.tables()[block.table];
      if (placement_[block.table].kind != ShardingKind::RowWise) continue;
      const int64_t key = batch.block_key(k);
      for (int64_t b = 0; b < B; ++b) {
        float* o = out + b * out_width + block.column;
        const int64_t len = offsets[key * B + b + 1] - offsets[key * B + b];
        if (block.mean && len > 0) {
          const float scale = 1.0f / static_cast<float>(len);
          for (int64_t c = 0; c < block.dim; ++c) o[c] *= scale;
        }
        if (spec.dtype == at::kHalf) {
          for (int64_t c = 0; c < block.dim; ++c) o[c] = static_cast<float>(c10::Half(o[c]));
        }
      }
    }
    if (train && keeps_forward_) {
      const auto copy = [](const at::Tensor& t) { return t.defined() ? t.clone() : at::Tensor(); };
      kept_.emplace(KeptForward{kjt.keys(), kjt.stride(), copy(kjt.values()), kjt.offsets().vec(), copy(kjt.weights()),
                                std::move(in)});
    }
  } catch (...) {
    if (entered) throw;
    agree(kjt.stride(), std::current_exception(), "forward");
    throw;
  }
}

int64_t ShardedEmbeddingBagCollection::backward(const KeyedJaggedTensor& kjt, const float* grad, int64_t grad_numel) {
  for (size_t t = 0; t < optimizers_.size(); ++t) {
    if (!optimizers_[t]) {
      fail(ErrorCode::InvalidConfig, "backward(): table \"", plan_.tables()[t].name,
           "\" has no optimizer; give each table an `optimizer` (OptimizerConfig) or the collection an `optimizer`");
    }
  }
  bool entered = false;
  try {
    const PlannedBatch batch = plan_.plan(kjt, "backward", /*count=*/false);
    const int64_t B = batch.batch_size();
    const int64_t width = plan_.output_width();
    if (grad_numel != B * width) {
      fail(ErrorCode::Shape, "backward: gradOutput has ", grad_numel, " values, expected [", B, "][", width,
           "] = ", B * width, " (batch size x the sum of the output dims)");
    }
    if (auto bad = kernels::find_non_finite(grad, grad_numel)) {
      fail(ErrorCode::NonFinite, "backward: gradOutput[", *bad, "] (sample ", *bad / width, ", column ", *bad % width,
           ") is not finite (", grad[*bad], "); no weight was changed");
    }
    entered = true;
    bool reuse = is_kept_forward(kjt);
    std::vector<int64_t> sizes = agree(B, nullptr, "backward", &reuse);
    // TorchRec's gradient division, then MEAN row-wise bags scaled as the unsharded kernel scales
    // them (its shards pool with SUM): c * g with c = 1 / length, the same product.
    std::vector<float> g(grad, grad + grad_numel);
    if (gradient_division_) {
      const float w = static_cast<float>(world_);
      for (float& x : g) x = x / w;
    }
    const int64_t* offsets = batch.kjt().offsets().data();
    for (size_t k = 0; k < plan_.outputs().size(); ++k) {
      const OutputBlock& block = plan_.outputs()[k];
      if (placement_[block.table].kind != ShardingKind::RowWise || !block.mean) continue;
      const int64_t key = batch.block_key(k);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t len = offsets[key * B + b + 1] - offsets[key * B + b];
        if (len == 0) continue;
        const float scale = 1.0f / static_cast<float>(len);
        for (int64_t c = 0; c < block.dim; ++c) g[b * width + block.column + c] *= scale;
      }
    }
    // Every rank's backward is its kept TRAIN forward's batch: the owners already hold the ids.
    const Received in = reuse ? std::move(kept_->received) : distribute_ids(batch, std::move(sizes), /*backward=*/true);
    kept_.reset();
    // Gradient rows to the shards' owners, in the order the ids went.
    std::vector<float> send;
    std::vector<int64_t> send_splits(world_, 0), recv_splits(world_, 0);
    for (int d = 0; d < world_; ++d) {
      const size_t before = send.size();
      for (const Shard& s : shards_) {
        if (s.rank != d || !sends(rank_, s, true)) continue;
        for (const auto& block : plan_.outputs()) {
          if (block.table != s.table) continue;
          for (int64_t b = 0; b < B; ++b) {
            const float* row = g.data() + b * width + block.column + s.first_col;
            send.insert(send.end(), row, row + s.cols);
          }
        }
      }
      send_splits[d] = static_cast<int64_t>(send.size() - before);
    }
    const auto& blocks = local_plan_ ? local_plan_->outputs() : std::vector<OutputBlock>{};
    for (int s = 0; s < world_; ++s) {
      for (size_t i = 0; i < blocks.size(); ++i) {
        if (sends(s, shards_[local_block_shard_[i]], true)) recv_splits[s] += in.batch_sizes[s] * blocks[i].dim;
      }
    }
    at::Tensor send_t = at::from_blob(send.data(), {static_cast<int64_t>(send.size())}, at::kFloat);
    const at::Tensor recv = group_->alltoall_base(send_t, send_splits, recv_splits).contiguous();
    const int64_t t = step_ + 1;
    if (local_plan_ && in.total > 0) {
      const int64_t local_width = local_plan_->output_width();
      at::Tensor local_grad = at::zeros({in.total, local_width}, at::kFloat);
      float* lg = local_grad.data_ptr<float>();
      const float* rp = recv.data_ptr<float>();
      for (int s = 0; s < world_; ++s) {
        for (size_t i = 0; i < blocks.size(); ++i) {
          if (!sends(s, shards_[local_block_shard_[i]], true)) continue;
          for (int64_t b = 0; b < in.batch_sizes[s]; ++b, rp += blocks[i].dim) {
            std::copy(rp, rp + blocks[i].dim, lg + (in.sample_offset[s] + b) * local_width + blocks[i].column);
          }
        }
      }
      std::vector<OptimizerStep> steps;
      for (size_t j : local_) steps.push_back(make_optimizer_step(*optimizers_[shards_[j].table], t));
      const PlannedBatch local = local_plan_->plan(*in.kjt, "backward", false);
      store_->backward(*local_plan_, local, lg, steps);
    }
    step_ = t;
    if (has_managed_) run_eviction_passes(t);
    return t;
  } catch (...) {
    if (entered) throw;
    agree(kjt.stride(), std::current_exception(), "backward");
    throw;
  }
}

void ShardedEmbeddingBagCollection::set_step(int64_t step) {
  if (step < 0) fail(ErrorCode::InvalidArgument, "step must be a non-negative integer, got ", step);
  step_ = step;
}

// Vocabularies are the LookupPlan's input stage: plan() maps each rank's raw ids to rows before the
// input distribution, so shards only ever see rows. Local, like the unsharded set_vocab (the binding
// orders it as a writer against the collective calls).
void ShardedEmbeddingBagCollection::set_vocab(const std::string& table, const int64_t* ids, const int64_t* rows,
                                              int64_t n, int64_t oov_row) {
  kept_.reset();  // the kept forward's ids were mapped with the old vocabulary
  plan_.set_vocab(plan_.table_index(table), ids, rows, n, oov_row);
}

}  // namespace torchrec::distributed
