// The training half of EmbeddingBagCollection: the fused backward with its step and learning rates,
// the step counter, optimizer state access and table norms.
#include <algorithm>
#include <mutex>

#include "core/embedding_bag_collection.h"
#include "core/error.h"
#include "core/managed_ids.h"
#include "core/table_state_rules.h"
#include "kernels/sparse_backward_cpu.h"

namespace torchrec {

int64_t EmbeddingBagCollection::backward(const KeyedJaggedTensor& input, const float* grad, int64_t grad_numel) {
  if (read_only()) {
    fail(ErrorCode::InvalidMode, "backward(): this collection serves memory-mapped tables and is read-only ",
         "(restored with mmap: true); restore without mmap into a new collection to train");
  }
  std::string untrainable;
  int count = 0;
  for (size_t t = 0; t < optimizers_.size(); ++t) {
    if (optimizers_[t]) continue;
    untrainable += (count++ ? ", \"" : "\"") + plan_.tables()[t].name + "\"";
  }
  if (count > 0) {
    fail(ErrorCode::InvalidConfig, "backward(): ", count > 1 ? "tables " : "table ", untrainable,
         count > 1 ? " have" : " has", " no optimizer; give each table an `optimizer` (OptimizerConfig) or the ",
         "collection an `optimizer` (EmbeddingOptimizerConfig)");
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  const PlannedBatch batch = plan_.plan(input, "backward", /*count=*/false);
  const int64_t width = plan_.output_width();
  const int64_t expected = batch.batch_size() * width;
  if (grad_numel != expected) {
    fail(ErrorCode::Shape, "backward: gradOutput has ", grad_numel, " values, expected [", batch.batch_size(), "][",
         width, "] = ", expected, " (batch size x the sum of the output dims)");
  }
  if (auto bad = kernels::find_non_finite(grad, grad_numel)) {
    fail(ErrorCode::NonFinite, "backward: gradOutput[", *bad, "] (sample ", *bad / width, ", column ", *bad % width,
         ") is not finite (", grad[*bad], "); no weight was changed");
  }
  const int64_t t = step_.load() + 1;
  std::vector<OptimizerStep> steps;
  steps.reserve(optimizers_.size());
  for (const auto& spec : optimizers_) steps.push_back(make_optimizer_step(*spec, t));
  store_->backward(plan_, batch, grad, steps);
  step_.store(t);
  if (plan_.has_managed()) run_eviction_passes(t);
  return t;
}

void EmbeddingBagCollection::set_step(int64_t step) {
  if (step < 0) fail(ErrorCode::InvalidArgument, "step must be a non-negative integer, got ", step);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  step_.store(step);
}

std::vector<StateTensorInfo> EmbeddingBagCollection::state_layout(const std::string& table) const {
  const int64_t t = plan_.table_index(table);
  return table_state_layout(plan_.tables()[t], optimizers_[t]);
}

size_t EmbeddingBagCollection::state_index(int64_t t, const std::string& name, const char* method) const {
  return table_state_index(plan_.tables()[t], optimizers_[t], name, method);
}

at::Tensor EmbeddingBagCollection::optimizer_state(const std::string& table, const std::string& name) const {
  const int64_t t = plan_.table_index(table);
  const size_t index = state_index(t, name, "optimizerState");
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return store_->read_state(t, index);
}

void EmbeddingBagCollection::set_optimizer_state(const std::string& table, const std::string& name, const float* data,
                                                 int64_t numel) {
  const int64_t t = plan_.table_index(table);
  const size_t index = state_index(t, name, "setOptimizerState");
  check_state(t, index, data, numel);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  store_->write_state(t, index, data, numel);
}

void EmbeddingBagCollection::check_state(int64_t t, size_t index, const float* data, int64_t numel) const {
  check_table_state(plan_.tables()[t], *optimizers_[t], index, data, numel);
}

void EmbeddingBagCollection::import_state(const std::vector<TableImport>& tables, std::optional<int64_t> step) {
  const bool maps =
      std::any_of(tables.begin(), tables.end(), [](const TableImport& t) { return t.mapped.has_value() || t.serve; });
  if (maps || read_only()) return import_serving(tables, step);
  if (step && *step < 0) fail(ErrorCode::InvalidArgument, "step must be a non-negative integer, got ", *step);
  std::vector<int64_t> index;
  std::vector<std::vector<size_t>> states(tables.size());
  for (size_t i = 0; i < tables.size(); ++i) {
    const TableImport& in = tables[i];
    const int64_t t = plan_.table_index(in.table);
    index.push_back(t);
    if (in.weight.defined()) check_weights(t, in.weight, "importState");
    for (const auto& [name, values] : in.states) {
      if (values.scalar_type() != at::kFloat) {
        fail(ErrorCode::Dtype, "importState(\"", in.table, "\"): optimizer state \"", name, "\" must be float32");
      }
      states[i].push_back(state_index(t, name, "importState"));
      check_state(t, states[i].back(), values.data_ptr<float>(), values.numel());
    }
    if (in.managed) {
      if (!plan_.managed(t)) {
        fail(ErrorCode::Checkpoint, "importState(\"", in.table, "\"): managed ids given for a table without ",
             "managed_collision");
      }
      plan_.managed(t)->check_state(*in.managed);
    }
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (size_t i = 0; i < tables.size(); ++i) {
    if (!tables[i].states.empty()) store_->allocate_state(index[i]);
  }
  // Everything is checked and allocated: from here on the stores only copy.
  for (size_t i = 0; i < tables.size(); ++i) {
    const TableSpec& spec = plan_.tables()[index[i]];
    if (tables[i].weight.defined()) {
      store_->write_rows(index[i], 0, tables[i].weight.reshape({spec.num_embeddings, -1}));
    }
    for (size_t k = 0; k < tables[i].states.size(); ++k) {
      const at::Tensor& values = tables[i].states[k].second;
      store_->write_state(index[i], states[i][k], values.data_ptr<float>(), values.numel());
    }
    if (tables[i].managed) plan_.managed(index[i])->import_state(*tables[i].managed);
  }
  if (step) step_.store(*step);
}

std::vector<double> EmbeddingBagCollection::table_norms(const std::vector<std::string>& tables, int64_t max_rows,
                                                        uint64_t seed) const {
  if (max_rows <= 0) fail(ErrorCode::InvalidArgument, "tableNorms: the sample size must be positive, got ", max_rows);
  std::vector<int64_t> indices;
  for (const auto& name : tables) indices.push_back(plan_.table_index(name));
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<double> norms;
  for (size_t k = 0; k < indices.size(); ++k) norms.push_back(store_->mean_row_norm(indices[k], max_rows, seed + k));
  return norms;
}

}  // namespace torchrec
