// TorchRec's EmbeddingBagCollection (unsharded) on libtorch: one weight tensor per table, pooled
// lookups of every (table, feature) pair fused into one pass, and a fused sparse backward that
// applies each table's optimizer in the backward pass (TorchRec's apply_optimizer_in_backward /
// FBGEMM's fused TBE). Thread-safe: forwards share a read lock, anything that writes weights or
// optimizer state takes the write lock. Callers that need calls applied in the order they were made
// (the binding) also go through sequencer().
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/call_sequencer.h"
#include "core/keyed_jagged_tensor.h"
#include "core/optimizer.h"
#include "core/table_spec.h"
#include "core/vocab_map.h"

namespace torchrec {

// One block of the pooled output: `feature` looked up in table `table`, named `key`
// (the feature name, or `feature@table` when several tables read the feature).
struct OutputBlock {
  std::string key;
  std::string feature;
  int64_t table = 0;
  int64_t dim = 0;
  int64_t column = 0;
};

// The learning rates of one backward. The caller computes them from its schedules before the step
// number is known for sure (earlier backwards may still be queued, and may fail), so it passes a
// window: values[(t - 1 - base_step) * num_tables + table] is the table's rate if this update is
// step t, for t in base_step + 1 .. base_step + window.
struct LearningRateWindow {
  int64_t base_step = 0;
  std::vector<double> values;
};

class EmbeddingBagCollection {
 public:
  // optimizers: one entry per table (nullopt: the table cannot be trained), or empty for none.
  EmbeddingBagCollection(std::vector<TableSpec> tables, bool is_weighted, uint64_t seed,
                         std::vector<std::optional<OptimizerSpec>> optimizers = {});

  const std::vector<TableSpec>& tables() const { return tables_; }
  const std::vector<OutputBlock>& outputs() const { return outputs_; }
  bool is_weighted() const { return is_weighted_; }
  int64_t output_width() const { return output_width_; }

  // Pools `kjt` into `out`, which holds kjt.stride() * output_width() floats (row-major [B][width]).
  void forward(const KeyedJaggedTensor& kjt, float* out) const;
  at::Tensor forward(const KeyedJaggedTensor& kjt) const;

  int64_t table_index(const std::string& name) const;      // throws ERR_INVALID_ARGUMENT naming the known tables
  at::Tensor get_weights(const std::string& table) const;  // float32 [N][D] copy; fp16 tables widened
  void set_weights(const std::string& table, const float* data, int64_t numel);

  // --- training (embedding_bag_collection_train.cc) ---

  // One fused optimizer step: `grad` is the gradient of forward(kjt), row-major [B][output_width()].
  // Everything is validated before any row moves; on success step() has grown by one.
  void backward(const KeyedJaggedTensor& kjt, const float* grad, int64_t grad_numel, const LearningRateWindow& lrs);
  int64_t step() const { return step_.load(); }
  void set_step(int64_t step);
  bool has_optimizer(int64_t table) const { return optimizers_.at(table) != nullptr; }
  // (FBGEMM name, float32 copy) per state tensor: momentum1 / momentum2, [N*D] or [N]; none for SGD.
  std::vector<std::pair<std::string, at::Tensor>> optimizer_state(const std::string& table) const;
  void set_optimizer_state(const std::string& table, const std::string& name, const float* data, int64_t numel);
  // Mean row L2 norm of each table, over at most max_rows distinct rows drawn with `seed`.
  std::vector<double> table_norms(const std::vector<std::string>& tables, int64_t max_rows, uint64_t seed) const;

  // --- vocabularies (the-algorithm-ml's EmbeddingBagConfig.vocab) ---

  // Gives `table` a vocabulary: raw entity id ids[i] -> row rows[i]. From then on forward and backward
  // map every id a feature of that table carries through it before the lookup; an id missing from the
  // vocabulary is dropped from its bag (oov_row = -1; MEAN divides by what remains) or looked up at
  // row oov_row. Replaces an earlier vocabulary. Fails (ERR_CHECKPOINT) on a row outside the table or
  // a repeated id, naming the positions, with nothing changed.
  void set_vocab(const std::string& table, const int64_t* ids, const int64_t* rows, int64_t n, int64_t oov_row);
  struct VocabStats {
    std::string table;
    int64_t lookups = 0;  // ids looked up in the vocabulary by forward calls
    int64_t missing = 0;  // of those, ids not in it (dropped, or sent to the OOV row)
  };
  // One entry per table that has a vocabulary, in table order.
  std::vector<VocabStats> vocab_stats() const;

  CallSequencer& sequencer() const { return sequencer_; }

 private:
  // by_block: `kjt` is a remapped batch whose key i is output block i (see remap()).
  void check_batch(const KeyedJaggedTensor& kjt, const char* method, bool by_block = false) const;
  // Index in `kjt` of the ids of output block `block`.
  int64_t block_key(const KeyedJaggedTensor& kjt, size_t block, bool by_block) const {
    return by_block ? static_cast<int64_t>(block) : kjt.key_index(outputs_[block].feature);
  }
  // With any vocabulary set: a batch with one key per output block (so a feature read by a vocab table
  // and by another table is mapped for the one only), the ids of vocab tables mapped to rows and
  // missing ones dropped or sent to the OOV row, weights following their ids. Caller holds mutex_.
  KeyedJaggedTensor remap(const KeyedJaggedTensor& kjt, bool count) const;

  std::vector<TableSpec> tables_;
  std::vector<at::Tensor> weights_;
  std::vector<std::unique_ptr<TableOptimizer>> optimizers_;  // null: no optimizer
  std::vector<OutputBlock> outputs_;
  bool is_weighted_;
  int64_t output_width_ = 0;
  // Per table; null: no vocabulary. Guarded by mutex_.
  std::vector<std::shared_ptr<const VocabMap>> vocabs_;
  std::vector<int64_t> oov_rows_;
  bool has_vocab_ = false;
  std::unique_ptr<std::atomic<int64_t>[]> vocab_lookups_;
  std::unique_ptr<std::atomic<int64_t>[]> vocab_missing_;
  std::atomic<int64_t> step_{0};
  mutable std::shared_mutex mutex_;
  mutable CallSequencer sequencer_;
};

}  // namespace torchrec
