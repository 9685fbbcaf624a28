// A rank's own shards as a sharded snapshot saves and restores them: no collective here, so each
// rank writes and reads only its part (lib/checkpoint/sharded_snapshot.ts moves the rest through
// files on the shared filesystem and agrees through the process group).
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/managed_ids.h"
#include "core/optimizer_spec.h"
#include "core/table_state_rules.h"
#include "distributed/sharded_collection.h"

namespace torchrec::distributed {

std::vector<ShardState> ShardedEmbeddingBagCollection::export_shards(bool with_weights, bool with_state) const {
  std::vector<ShardState> out;
  for (size_t j = 0; j < local_.size(); ++j) {
    const Shard& s = shards_[local_[j]];
    ShardState state{plan_.tables()[s.table].name,
                     s.first_row,
                     s.rows,
                     s.first_col,
                     s.cols,
                     placement_[s.table].kind == ShardingKind::DataParallel,
                     {},
                     {}};
    if (with_weights) state.weight = store_->read_rows(static_cast<int64_t>(j), 0, s.rows);
    if (with_state && optimizers_[s.table]) {
      const auto& layout = optimizer_state_layout(optimizers_[s.table]->kind);
      for (size_t k = 0; k < layout.size(); ++k) {
        state.states.emplace_back(layout[k].name, store_->read_state(static_cast<int64_t>(j), k));
      }
    }
    if (with_state && local_plan_->managed(static_cast<int64_t>(j)) != nullptr) {
      state.managed = local_plan_->managed(static_cast<int64_t>(j))->export_state();
      for (int64_t& row : state.managed->rows) row += s.first_row;
    }
    out.push_back(std::move(state));
  }
  return out;
}

void ShardedEmbeddingBagCollection::import_shards(const std::vector<ShardState>& shards, std::optional<int64_t> step,
                                                  bool apply) {
  if (step && *step < 0) fail(ErrorCode::InvalidArgument, "step must be a non-negative integer, got ", *step);
  // For each entry: its local store table and the state index of each of its states.
  std::vector<int64_t> local_index;
  std::vector<std::vector<size_t>> indices(shards.size());
  std::set<int64_t> seen;
  for (size_t i = 0; i < shards.size(); ++i) {
    const ShardState& in = shards[i];
    const int64_t t = plan_.table_index(in.table);
    const TableSpec& spec = plan_.tables()[t];
    const std::string where = "importShards(\"" + in.table + "\", rows " + std::to_string(in.first_row) + "+" +
                              std::to_string(in.rows) + ", columns " + std::to_string(in.first_col) + "+" +
                              std::to_string(in.cols) + ")";
    int64_t found = -1;
    for (size_t j = 0; j < local_.size(); ++j) {
      const Shard& s = shards_[local_[j]];
      if (std::tie(s.table, s.first_row, s.rows, s.first_col, s.cols) ==
          std::tie(t, in.first_row, in.rows, in.first_col, in.cols)) {
        found = static_cast<int64_t>(j);
      }
    }
    if (found < 0) fail(ErrorCode::InvalidArgument, where, ": this rank holds no such shard");
    if (!seen.insert(found).second) fail(ErrorCode::InvalidArgument, where, ": the shard is given twice");
    local_index.push_back(found);
    if (in.weight.defined()) {
      if (in.weight.scalar_type() != at::kFloat && in.weight.scalar_type() != spec.dtype) {
        fail(ErrorCode::Dtype, where, ": weights must be float32", spec.dtype == at::kHalf ? " or fp16" : "", ", got ",
             in.weight.scalar_type());
      }
      if (in.weight.numel() != in.rows * in.cols) {
        fail(ErrorCode::Shape, where, ": got ", in.weight.numel(), " weights, expected ", in.rows, " x ", in.cols);
      }
    }
    for (const auto& [name, values] : in.states) {
      const size_t k = state_index(t, name, "importShards");
      const StateSpec& rule = optimizer_state_layout(optimizers_[t]->kind)[k];
      if (values.scalar_type() != at::kFloat) {
        fail(ErrorCode::Dtype, where, ": optimizer state \"", name, "\" must be float32");
      }
      const int64_t expected = rule.per_element ? in.rows * in.cols : in.rows;
      if (values.numel() != expected) {
        fail(ErrorCode::Shape, where, ": optimizer state \"", name, "\" has ", values.numel(), " values, expected ",
             expected);
      }
      check_state_values(rule, spec.name, values.data_ptr<float>(), values.numel());
      indices[i].push_back(k);
    }
    if (in.managed) {
      if (!spec.managed)
        fail(ErrorCode::Checkpoint, where, ": managed ids given for a table without managed_collision");
      check_managed_layout(t, *in.managed, where);
      local_plan_->managed(found)->check_state(managed_part(static_cast<size_t>(found), *in.managed));
    }
  }
  if (!apply) return;
  // Everything is checked: from here on the store only allocates and copies.
  for (size_t i = 0; i < shards.size(); ++i) {
    if (!shards[i].states.empty()) store_->allocate_state(local_index[i]);
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    const ShardState& in = shards[i];
    if (in.weight.defined()) store_->write_rows(local_index[i], 0, in.weight.reshape({in.rows, in.cols}));
    for (size_t k = 0; k < in.states.size(); ++k) {
      const at::Tensor& values = in.states[k].second;
      store_->write_state(local_index[i], indices[i][k], values.data_ptr<float>(), values.numel());
    }
    if (in.managed) {
      const auto j = static_cast<size_t>(local_index[i]);
      local_plan_->managed(local_index[i])->import_state(managed_part(j, *in.managed));
    }
  }
  if (step) step_ = *step;
}

}  // namespace torchrec::distributed
