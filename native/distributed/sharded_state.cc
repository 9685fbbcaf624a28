// Weights and optimizer state of the sharded collection. Reads are collective (every rank gets the
// whole tensor: each rank's part gathered, then laid out in row order); writes are local (every rank
// passes the whole tensor and keeps its part), so no write ever waits on a peer.
#include "core/error.h"
#include "core/managed_ids.h"
#include "core/table_state_rules.h"
#include "distributed/sharded_collection.h"

namespace torchrec::distributed {

int64_t ShardedEmbeddingBagCollection::local_shard(int64_t table) const {
  for (size_t j = 0; j < local_.size(); ++j) {
    if (shards_[local_[j]].table == table) return static_cast<int64_t>(j);
  }
  return -1;
}

int64_t ShardedEmbeddingBagCollection::shard_cols(int64_t table) const {
  for (const Shard& s : shards_) {
    if (s.table == table) return s.cols;
  }
  return plan_.tables()[table].embedding_dim;
}

at::Tensor ShardedEmbeddingBagCollection::gather_rows(int64_t table, at::Tensor mine, int64_t width) const {
  const TableSpec& spec = plan_.tables()[table];
  if (placement_[table].kind == ShardingKind::DataParallel) return mine;  // every rank has it whole
  const bool half = mine.scalar_type() == at::kHalf;
  if (half) mine = mine.view(at::kShort);  // moved as bytes
  std::vector<int64_t> counts;
  const at::Tensor all = group_->allgather_variable(mine.reshape({-1, width}).contiguous(), &counts);
  std::vector<int64_t> first(world_, 0);
  for (int r = 1; r < world_; ++r) first[r] = first[r - 1] + counts[r - 1];
  std::vector<at::Tensor> parts;
  for (const Shard& s : shards_) {
    if (s.table == table) parts.push_back(all.narrow(0, first[s.rank], counts[s.rank]));
  }
  // Row shards stack, column shards sit side by side.
  at::Tensor out = at::cat(parts, placement_[table].kind == ShardingKind::ColumnWise ? 1 : 0);
  if (out.size(0) != spec.num_embeddings) {
    fail(ErrorCode::Internal, "table \"", spec.name, "\": gathered ", out.size(0), " rows, expected ",
         spec.num_embeddings);
  }
  return half ? out.view(at::kHalf) : out;
}

at::Tensor ShardedEmbeddingBagCollection::read_weights(const std::string& table) const {
  const int64_t t = plan_.table_index(table);
  const TableSpec& spec = plan_.tables()[t];
  const int64_t j = local_shard(t);
  at::Tensor mine =
      j >= 0 ? store_->read_rows(j, 0, shards_[local_[j]].rows) : at::empty({0, shard_cols(t)}, spec.dtype);
  return gather_rows(t, mine, shard_cols(t));
}

at::Tensor ShardedEmbeddingBagCollection::get_weights(const std::string& table) const {
  return read_weights(table).to(at::kFloat);
}

void ShardedEmbeddingBagCollection::write_table_part(int64_t t, const at::Tensor& whole) {
  const int64_t j = local_shard(t);
  if (j < 0) return;
  const Shard& s = shards_[local_[j]];
  store_->write_rows(j, 0, whole.narrow(0, s.first_row, s.rows).narrow(1, s.first_col, s.cols).contiguous());
}

void ShardedEmbeddingBagCollection::set_weights(const std::string& table, const at::Tensor& values) {
  const int64_t t = plan_.table_index(table);
  const TableSpec& spec = plan_.tables()[t];
  check_table_weights(spec, values, "setWeights");
  write_table_part(t, values.reshape({spec.num_embeddings, spec.embedding_dim}));
}

std::vector<StateTensorInfo> ShardedEmbeddingBagCollection::state_layout(const std::string& table) const {
  const int64_t t = plan_.table_index(table);
  return table_state_layout(plan_.tables()[t], optimizers_[t]);
}

size_t ShardedEmbeddingBagCollection::state_index(int64_t t, const std::string& name, const char* method) const {
  return table_state_index(plan_.tables()[t], optimizers_[t], name, method);
}

at::Tensor ShardedEmbeddingBagCollection::optimizer_state(const std::string& table, const std::string& name) const {
  const int64_t t = plan_.table_index(table);
  const size_t index = state_index(t, name, "optimizerState");
  const bool per_element = optimizer_state_layout(optimizers_[t]->kind)[index].per_element;
  const int64_t width = per_element ? shard_cols(t) : 1;
  const int64_t j = local_shard(t);
  at::Tensor mine = j >= 0 ? store_->read_state(j, index) : at::empty({0}, at::kFloat);
  at::Tensor whole = gather_rows(t, mine, width);
  // A column_wise table's per-row state is per column shard (README "Scaling out"): the whole
  // tensor reports the first shard's, the one holding column 0.
  if (!per_element && placement_[t].kind == ShardingKind::ColumnWise) whole = whole.select(1, 0).contiguous();
  return whole.reshape({-1});
}

void ShardedEmbeddingBagCollection::write_state_part(int64_t t, size_t index, const float* data) {
  const int64_t j = local_shard(t);
  if (j < 0) return;
  const Shard& s = shards_[local_[j]];
  const int64_t dim = plan_.tables()[t].embedding_dim;
  if (optimizer_state_layout(optimizers_[t]->kind)[index].per_element) {
    const at::Tensor whole = at::from_blob(const_cast<float*>(data), {plan_.tables()[t].num_embeddings, dim});
    const at::Tensor part = whole.narrow(0, s.first_row, s.rows).narrow(1, s.first_col, s.cols).contiguous();
    store_->write_state(j, index, part.data_ptr<float>(), part.numel());
  } else {  // per row: every column shard of a row takes the row's value
    store_->write_state(j, index, data + s.first_row, s.rows);
  }
}

void ShardedEmbeddingBagCollection::set_optimizer_state(const std::string& table, const std::string& name,
                                                        const float* data, int64_t numel) {
  const int64_t t = plan_.table_index(table);
  const size_t index = state_index(t, name, "setOptimizerState");
  check_table_state(plan_.tables()[t], *optimizers_[t], index, data, numel);
  write_state_part(t, index, data);
}

// Local, like set_weights: every rank passes whole tensors (a state dict every rank reads) and keeps
// its part; everything is checked before any part is written. Sharded snapshots use import_shards.
void ShardedEmbeddingBagCollection::import_state(const std::vector<TableImport>& tables, std::optional<int64_t> step) {
  if (step && *step < 0) fail(ErrorCode::InvalidArgument, "step must be a non-negative integer, got ", *step);
  std::vector<int64_t> index;
  std::vector<std::vector<size_t>> states(tables.size());
  for (size_t i = 0; i < tables.size(); ++i) {
    const TableImport& in = tables[i];
    const int64_t t = plan_.table_index(in.table);
    index.push_back(t);
    if (in.weight.defined()) check_table_weights(plan_.tables()[t], in.weight, "importState");
    for (const auto& [name, values] : in.states) {
      if (values.scalar_type() != at::kFloat) {
        fail(ErrorCode::Dtype, "importState(\"", in.table, "\"): optimizer state \"", name, "\" must be float32");
      }
      states[i].push_back(state_index(t, name, "importState"));
      check_table_state(plan_.tables()[t], *optimizers_[t], states[i].back(), values.data_ptr<float>(), values.numel());
    }
    if (in.managed) {
      const std::string where = "importState(\"" + in.table + "\")";
      if (!plan_.tables()[t].managed) {
        fail(ErrorCode::Checkpoint, where, ": managed ids given for a table without managed_collision");
      }
      check_managed_layout(t, *in.managed, where);
      const int64_t j = local_shard(t);
      if (j >= 0) local_plan_->managed(j)->check_state(managed_part(static_cast<size_t>(j), *in.managed));
    }
  }
  // Everything is checked: from here on the store only allocates and copies.
  for (size_t i = 0; i < tables.size(); ++i) {
    const int64_t j = local_shard(index[i]);
    if (j >= 0 && !tables[i].states.empty()) store_->allocate_state(j);
  }
  for (size_t i = 0; i < tables.size(); ++i) {
    const TableSpec& spec = plan_.tables()[index[i]];
    if (tables[i].weight.defined()) {
      write_table_part(index[i], tables[i].weight.reshape({spec.num_embeddings, spec.embedding_dim}));
    }
    for (size_t k = 0; k < tables[i].states.size(); ++k) {
      write_state_part(index[i], states[i][k], tables[i].states[k].second.data_ptr<float>());
    }
    const int64_t j = local_shard(index[i]);
    if (tables[i].managed && j >= 0) {
      local_plan_->managed(j)->import_state(managed_part(static_cast<size_t>(j), *tables[i].managed));
    }
  }
  if (step) step_ = *step;
}

}  // namespace torchrec::distributed
