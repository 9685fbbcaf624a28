// TorchRec's EmbeddingBagCollection (unsharded): a LookupPlan (what to look up) over one TableStore
// (where the rows live: CPU or CUDA), with the training state next to the optimizers: each table's
// OptimizerSpec (rule, learning rate or schedule) and the global step. backward() needs nothing but
// the batch and its gradient. Thread-safe: forwards share a read lock; anything that writes weights,
// optimizer state, the step or a vocabulary takes the write lock.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <shared_mutex>

#include "core/embedding_module.h"
#include "core/table_store.h"

namespace torchrec {

class EmbeddingBagCollection final : public EmbeddingModule {
 public:
  // optimizers: one entry per table (nullopt: the table cannot be trained), or empty for none; each
  // is validated (ERR_INVALID_CONFIG naming tables[i].optimizer). device: "cpu", "cuda" or "cuda:N"
  // (ERR_DEVICE when this build has no CUDA or the device does not exist). stochastic_rounding: fp16
  // rows written by the optimizers with FBGEMM's stochastic rounding (default, as FBGEMM) or to nearest.
  EmbeddingBagCollection(std::vector<TableSpec> tables, bool is_weighted, uint64_t seed,
                         std::vector<std::optional<OptimizerSpec>> optimizers = {}, const std::string& device = "cpu",
                         bool stochastic_rounding = true);

  const LookupPlan& plan() const override { return plan_; }
  std::string device() const override { return store_->device(); }
  int64_t output_width() const { return plan_.output_width(); }

  void forward(const KeyedJaggedTensor& kjt, float* out) const override;
  at::Tensor forward(const KeyedJaggedTensor& kjt) const;  // a new float32 [B][width] tensor

  int64_t backward(const KeyedJaggedTensor& kjt, const float* grad, int64_t grad_numel) override;
  int64_t step() const override { return step_.load(); }
  void set_step(int64_t step) override;

  at::Tensor get_weights(const std::string& table) const override;
  at::Tensor read_weights(const std::string& table) const override;
  void set_weights(const std::string& table, const at::Tensor& values) override;
  // TableStore::host_rows of `table` in the current store (a mapped restore replaces the store).
  const void* host_rows(const std::string& table) const { return store_->host_rows(plan_.table_index(table)); }

  std::vector<StateTensorInfo> state_layout(const std::string& table) const override;
  at::Tensor optimizer_state(const std::string& table, const std::string& name) const override;
  void set_optimizer_state(const std::string& table, const std::string& name, const float* data,
                           int64_t numel) override;
  void import_state(const std::vector<TableImport>& tables, std::optional<int64_t> step) override;
  std::vector<double> table_norms(const std::vector<std::string>& tables, int64_t max_rows,
                                  uint64_t seed) const override;

  void set_vocab(const std::string& table, const int64_t* ids, const int64_t* rows, int64_t n,
                 int64_t oov_row) override;
  std::vector<LookupPlan::VocabStats> vocab_stats() const override;

  // Managed ids (embedding_bag_collection_managed.cc).
  bool has_managed_ids() const override { return plan_.has_managed(); }
  void forward_train(const KeyedJaggedTensor& kjt, float* out) override;
  std::vector<std::pair<std::string, ManagedIdStats>> managed_id_stats() const override;
  std::optional<ManagedIdsState> managed_state(const std::string& table) const override;

  // Serving (embedding_bag_collection_serving.cc).
  std::vector<std::string> table_storage() const override;
  bool read_only() const override;

 private:
  // import_state when a table is mapped or the module already serves mapped tables: a new read-only
  // store (mapped tables, the rest in memory) replaces the old one whole, under the write lock.
  void import_serving(const std::vector<TableImport>& tables, std::optional<int64_t> step);
  // Index of `name`'s state in table t's layout; ERR_INVALID_ARGUMENT naming the ones it has.
  size_t state_index(int64_t table, const std::string& name, const char* method) const;
  // ERR_DTYPE / ERR_SHAPE unless `values` can be table t's weights.
  void check_weights(int64_t table, const at::Tensor& values, const char* method) const;
  // ERR_SHAPE / ERR_NON_FINITE / ERR_INVALID_ARGUMENT unless `data` can be state `index` of table t.
  void check_state(int64_t table, size_t index, const float* data, int64_t numel) const;
  // After the backward that completed `step`: the eviction pass of every managed table due for one.
  void run_eviction_passes(int64_t step);

  LookupPlan plan_;
  std::vector<std::optional<OptimizerSpec>> optimizers_;  // per table
  std::shared_ptr<TableStore> store_;                     // replaced whole by a mapped restore
  std::atomic<int64_t> step_{0};
  uint64_t seed_;  // the init rule's seed: evicted rows are drawn again from it
  mutable std::shared_mutex mutex_;
};

}  // namespace torchrec
