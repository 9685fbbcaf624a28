// What to look up: the one description of "feature k of table t at output column c" that every store
// builds its kernel calls from. The plan owns the tables' shapes, the output blocks, the features'
// keys, batch validation, and the input stages that rewrite ids before any lookup (today the
// vocabulary; managed ids next). It knows nothing about where rows live: that is the TableStore's.
// Not synchronised: the module that owns it orders set_vocab against the batches it plans.
#pragma once

#include <c10/util/ArrayRef.h>
#include <c10/util/SmallVector.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/keyed_jagged_tensor.h"
#include "core/table_spec.h"
#include "core/vocab_map.h"

namespace torchrec {

class ManagedIds;  // core/managed_ids.h

// One block of the pooled output: `feature` looked up in table `table`, named `key` (the feature
// name, or `feature@table` when several tables read the feature).
struct OutputBlock {
  std::string key;
  std::string feature;
  int64_t table = 0;
  int64_t dim = 0;
  int64_t column = 0;
  bool mean = false;
};

// A batch ready for the stores: validated, its ids rewritten by the input stages, and each output
// block's key in it. Holds the rewritten copy when a stage rewrote ids; otherwise refers to the
// caller's KJT, which must outlive it.
class PlannedBatch {
 public:
  PlannedBatch(const KeyedJaggedTensor& input, std::optional<KeyedJaggedTensor> rewritten,
               c10::ArrayRef<int64_t> block_keys, bool weighted, std::vector<const ManagedIds*> remapped = {},
               bool ids_checked = true);
  PlannedBatch(const PlannedBatch&) = delete;
  PlannedBatch& operator=(const PlannedBatch&) = delete;

  const KeyedJaggedTensor& kjt() const { return rewritten_ ? *rewritten_ : input_; }
  int64_t block_key(size_t block) const { return block_keys_[block]; }
  c10::ArrayRef<int64_t> block_keys() const { return block_keys_; }
  // False when the range check of the ids was left to the store's pooling (LookupPlan::plan's
  // defer_id_check); the store then calls LookupPlan::report_bad_ids if the pooling found one.
  bool ids_checked() const { return ids_checked_; }
  int64_t batch_size() const { return kjt().stride(); }
  // Per-value weights when the collection is weighted (TorchRec ignores them otherwise), else null.
  const float* per_value_weights() const { return weighted_ ? kjt().weights().data_ptr<float>() : nullptr; }
  // Non-null when block `block`'s ids in kjt() are still raw managed ids, to be remapped through
  // these as they are pooled (only in batches planned with fuse_managed).
  const ManagedIds* remapped(size_t block) const { return remapped_.empty() ? nullptr : remapped_[block]; }

 private:
  const KeyedJaggedTensor& input_;
  std::optional<KeyedJaggedTensor> rewritten_;
  c10::SmallVector<int64_t, 16> block_keys_;  // inline for ordinary collections: no allocation per call
  bool weighted_;
  std::vector<const ManagedIds*> remapped_;  // per block, or empty
  bool ids_checked_;
};

class LookupPlan {
 public:
  LookupPlan(std::vector<TableSpec> tables, bool is_weighted);

  const std::vector<TableSpec>& tables() const { return tables_; }
  const std::vector<OutputBlock>& outputs() const { return outputs_; }
  bool is_weighted() const { return is_weighted_; }
  int64_t output_width() const { return output_width_; }
  // Index of the table named `name`; ERR_INVALID_ARGUMENT naming the known tables otherwise.
  int64_t table_index(const std::string& name) const;

  // Validates `input` for `method` (weights present when weighted, every feature present, every id
  // inside its table after the input stages) and applies the stages. `count`: add the batch to the
  // stages' statistics (forward does; backward replays the same mapping without counting).
  // fuse_managed: managed-id blocks keep their raw ids (PlannedBatch::remapped), for a store whose
  // forward remaps as it pools (TableStore::pools_managed_ids); only without vocabularies, else ignored.
  // defer_id_check: batches without input stages skip the separate pass over their ids that checks
  // their range, for a store whose pooling checks them as it reads them (TableStore::checks_ids_while_pooling).
  PlannedBatch plan(const KeyedJaggedTensor& input, const char* method, bool count, bool fuse_managed = false,
                    bool defer_id_check = false) const;
  // Throws the ERR_INDEX_OUT_OF_RANGE that planning would have, for a batch planned with defer_id_check
  // whose pooling found an id out of range (ERR_INTERNAL if it finds none).
  [[noreturn]] void report_bad_ids(const PlannedBatch& batch) const;
  // The same for a TRAIN-mode forward: managed-id tables also admit and count its ids at `step`
  // (mutates their state: the caller holds the module's write lock).
  PlannedBatch plan_train(const KeyedJaggedTensor& input, const char* method, int64_t step) const;

  // --- input stage: managed ids (core/managed_ids.h) ---
  bool has_managed() const { return has_managed_; }
  // Table t's managed ids, or null when it takes plain row ids.
  ManagedIds* managed(int64_t t) const { return managed_[t].get(); }

  // --- input stage: vocabularies (the-algorithm-ml's EmbeddingBagConfig.vocab) ---

  // Raw entity id ids[i] -> row rows[i] for every feature of `table`; missing ids are dropped from
  // their bag (oov_row -1; MEAN divides by what remains) or looked up at row oov_row. Fails with
  // nothing changed: ERR_INVALID_CONFIG for a bad OOV row, ERR_CHECKPOINT for a row outside the table
  // or a repeated id (details: id, first, second entry).
  void set_vocab(int64_t table, const int64_t* ids, const int64_t* rows, int64_t n, int64_t oov_row);
  struct VocabStats {
    std::string table;
    int64_t lookups = 0;  // ids looked up in the vocabulary by counted batches
    int64_t missing = 0;  // of those, ids not in it (dropped, or sent to the OOV row)
  };
  std::vector<VocabStats> vocab_stats() const;  // one entry per table with a vocabulary, in table order

 private:
  // skip (when given): blocks whose ids are not checked (raw managed ids: every one has a row).
  void check_ids(const KeyedJaggedTensor& kjt, c10::ArrayRef<int64_t> keys, bool rewritten,
                 const std::vector<const ManagedIds*>* skip = nullptr) const;
  // A batch with one key per output block (so a feature read by a vocabulary table and by another
  // table is mapped for the one only), weights following their ids.
  // admit_step >= 0: a TRAIN forward at that step (managed ids admit and count); -1: look up only.
  KeyedJaggedTensor apply_vocabs(const KeyedJaggedTensor& kjt, const std::vector<int64_t>& keys, bool count,
                                 int64_t admit_step) const;
  // The rewrite when managed ids are the only id-changing stage: every block keeps its bags' sizes,
  // so blocks are laid out up front and lookups fan out over threads (lookup_plan_managed.cc).
  KeyedJaggedTensor apply_managed(const KeyedJaggedTensor& kjt, const std::vector<int64_t>& keys,
                                  int64_t admit_step) const;
  // The KJT key index of each output block (MissingFeature naming the first one absent), looked up
  // once per key list and thread: a stream of batches shares one list.
  c10::SmallVector<int64_t, 16> block_keys(const KeyedJaggedTensor& input) const;
  PlannedBatch plan_staged(const KeyedJaggedTensor& input, const char* method, bool count, int64_t admit_step,
                           bool fuse_managed = false, bool defer_id_check = false) const;
  // A forward's batch when managed ids are the only stage and the store remaps as it pools: nothing
  // rewritten, the managed blocks marked (lookup_plan_managed.cc).
  PlannedBatch plan_fused_managed(const KeyedJaggedTensor& input, c10::ArrayRef<int64_t> keys) const;

  std::vector<TableSpec> tables_;
  std::vector<OutputBlock> outputs_;
  bool is_weighted_;
  int64_t output_width_ = 0;
  std::vector<std::shared_ptr<const VocabMap>> vocabs_;  // per table; null: no vocabulary
  std::vector<int64_t> oov_rows_;
  bool has_vocab_ = false;
  std::unique_ptr<std::atomic<int64_t>[]> vocab_lookups_;
  std::unique_ptr<std::atomic<int64_t>[]> vocab_missing_;
  std::vector<std::shared_ptr<ManagedIds>> managed_;  // per table; null: plain row ids
  // The rewritten ids of the last TRAIN forward (apply_managed), reused by the next one when nothing
  // else holds it: TRAIN forwards run under the module's write lock.
  mutable at::Tensor train_ids_;
  bool has_managed_ = false;
  // Names this plan in the per-thread block_keys cache; never reused, unlike an address.
  uint64_t cache_id_;
};

}  // namespace torchrec
