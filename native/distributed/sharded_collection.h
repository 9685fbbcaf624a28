// TorchRec's sharded EmbeddingBagCollection across the ranks of a ProcessGroup. Every rank holds the
// same LookupPlan (the global tables: validation, output blocks) and a CpuTableStore over ITS shards
// only; a shard is a TableSpec with the shard's rows, ids rebased to its first row. Every call that
// reads or moves rows is a collective: ranks must make them in the same order (the binding sequences
// them as writers), each with its own local batch (any size, 0 included).
//
//   table_wise:    one owner holds the table; ids go to it, pooled rows come back.
//   row_wise:      TorchRec's block = ceil(N / S) rows per shard (the last ones short or empty); each
//                  id goes to its row's owner, every owner returns partial sums, the requester adds
//                  them and divides MEAN bags by their GLOBAL length.
//   column_wise:   equal column blocks, one per listed rank (dim / S columns each); every owner gets
//                  all ranks' bags of its table and returns its column slice of each pooled row,
//                  which the requester places at the slice's column. The row-wise optimizers keep
//                  their per-row values (rowwise_adagrad's sum, partial_rowwise_adam's v, lamb's
//                  norms) per column shard, as TorchRec does: see README "Scaling out".
//   table_row_wise: row_wise over the ranks of one node (lib/distributed validates the node).
//   managed ids:   table_wise and row_wise only (sharded_managed.cc). Ids travel raw; each shard's
//                  owner holds a map over its rows (its last row its default row). row_wise sends
//                  each id to shard hash(id) mod S, so a row_wise table is S independent maps.
//   data_parallel: every rank holds the whole table and pools its own bags; backward sends every
//                  rank's ids and gradients to every replica, which all apply the same fused step
//                  over the global batch.
// Backward equals the unsharded backward of the global batch (the ranks' batches in rank order, the
// gradient divided by the world size when gradient_division). Not synchronised against concurrent
// callers: the binding's sequencer runs one call at a time (collective() is true).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/embedding_module.h"
#include "core/table_store.h"
#include "distributed/process_group.h"

namespace torchrec::distributed {

enum class ShardingKind { TableWise, RowWise, DataParallel, ColumnWise };

// Where one table lives: TableWise one rank; RowWise and ColumnWise the ranks holding shards 0, 1, ...
// in order; DataParallel every rank. Ranks must be distinct and inside the group (ERR_INVALID_CONFIG).
struct TablePlacement {
  ShardingKind kind = ShardingKind::TableWise;
  std::vector<int> ranks;
};

// One non-empty part of a table, on one rank: rows [first_row, first_row + rows) and columns
// [first_col, first_col + cols) (all columns but for column_wise).
struct Shard {
  int64_t table = 0;
  int64_t index = 0;  // among its table's shards
  int rank = 0;
  int64_t first_row = 0;
  int64_t rows = 0;
  int64_t first_col = 0;
  int64_t cols = 0;
};

// One local shard's weights and optimizer state as a snapshot saves and restores them
// (sharded_shards.cc): weight [rows][cols], per-element states [rows][cols], per-row states [rows].
struct ShardState {
  std::string table;
  int64_t first_row = 0;
  int64_t rows = 0;
  int64_t first_col = 0;
  int64_t cols = 0;
  bool replicated = false;  // data_parallel: every rank holds the same whole table (set on export)
  at::Tensor weight;        // stored dtype on export; float32 or the stored dtype on import; undefined: keep
  std::vector<std::pair<std::string, at::Tensor>> states;  // float32
  // A managed table's map: on export this shard's part (rows global), on import the whole table's
  // map, of which the shard takes its part (managed_part).
  std::optional<ManagedIdsState> managed;
};

class ShardedEmbeddingBagCollection final : public EmbeddingModule {
 public:
  ShardedEmbeddingBagCollection(std::vector<TableSpec> tables, bool is_weighted, uint64_t seed,
                                std::vector<std::optional<OptimizerSpec>> optimizers,
                                std::vector<TablePlacement> placement, std::shared_ptr<ProcessGroup> group,
                                bool gradient_division, bool stochastic_rounding = true);

  bool collective() const override { return true; }
  const LookupPlan& plan() const override { return plan_; }
  std::string device() const override { return "cpu"; }

  void forward(const KeyedJaggedTensor& kjt, float* out) const override { forward_impl(kjt, out, false); }
  int64_t backward(const KeyedJaggedTensor& kjt, const float* grad, int64_t grad_numel) override;
  int64_t step() const override { return step_; }
  void set_step(int64_t step) override;

  // Collective: every rank gets the whole table (shards gathered in row order).
  at::Tensor get_weights(const std::string& table) const override;
  at::Tensor read_weights(const std::string& table) const override;
  // Local: every rank passes the whole table and keeps its part.
  void set_weights(const std::string& table, const at::Tensor& values) override;

  std::vector<StateTensorInfo> state_layout(const std::string& table) const override;
  at::Tensor optimizer_state(const std::string& table, const std::string& name) const override;  // collective
  void set_optimizer_state(const std::string& table, const std::string& name, const float* data,
                           int64_t numel) override;  // local, whole tensor
  void import_state(const std::vector<TableImport>& tables, std::optional<int64_t> step) override;  // local
  // Collective (sharded_norms.cc): exactly the unsharded numbers, rank 0's seed.
  std::vector<double> table_norms(const std::vector<std::string>& tables, int64_t max_rows,
                                  uint64_t seed) const override;

  void set_vocab(const std::string& table, const int64_t* ids, const int64_t* rows, int64_t n,
                 int64_t oov_row) override;
  // This rank's counts (the ids its own batches looked up).
  std::vector<LookupPlan::VocabStats> vocab_stats() const override { return plan_.vocab_stats(); }

  // A TRAIN forward admits managed ids on the owners, in global-batch order, and keeps what this rank
  // received, so that the backward of the same batch need not send its ids again.
  bool has_managed_ids() const override { return has_managed_; }
  void forward_train(const KeyedJaggedTensor& kjt, float* out) override { forward_impl(kjt, out, true); }
  // Collective: every rank gets the sums over the tables' shards.
  std::vector<std::pair<std::string, ManagedIdStats>> managed_id_stats() const override;
  // Collective: the whole table's map (the shards' parts with global rows, in shard order; counters
  // summed). nullopt, without a collective, for a table of plain row ids.
  std::optional<ManagedIdsState> managed_state(const std::string& table) const override;

  // Local (no peer is waited for): this rank's shards in shard order, data_parallel replicas included,
  // with their weights when with_weights and every optimizer state when with_state (neither: only
  // where the shards lie, what a restore needs to know first). The step is step().
  std::vector<ShardState> export_shards(bool with_weights, bool with_state) const;
  // Local and all-or-nothing: every entry must name one of this rank's shards exactly (table, rows,
  // columns); shapes, dtypes and state values are checked before anything is written. With
  // apply false only the checks run, so ranks can agree on a verdict before any of them writes.
  void import_shards(const std::vector<ShardState>& shards, std::optional<int64_t> step, bool apply);

  // The shard of a managed table (its index among the table's shards) that raw id `id` goes to.
  int64_t managed_shard(int64_t table, int64_t id) const;

  // The exchange of one call (shard_exchange.cc): what this rank received for its local lookup.
  struct Received {
    std::vector<int64_t> batch_sizes;      // every rank's local batch size
    std::vector<int64_t> sample_offset;    // first local-KJT sample of each source rank
    int64_t total = 0;                     // samples in the local KJT (the sum of batch_sizes)
    std::optional<KeyedJaggedTensor> kjt;  // over local_plan_'s features
  };

 private:
  // Does source rank `source` send the bags of a block of shard `s` to its owner? (data_parallel
  // replicas get only their own rank's bags in forward, everyone's in backward.)
  bool sends(int source, const Shard& s, bool backward) const;
  void forward_impl(const KeyedJaggedTensor& kjt, float* out, bool train) const;
  // Whether `kjt` is the batch the kept TRAIN forward ran (same keys, stride, ids and weights).
  bool is_kept_forward(const KeyedJaggedTensor& kjt) const;
  // Managed tables (sharded_managed.cc). Checks the whole map of table t against this layout on
  // every rank alike (so all reach one verdict): ERR_CHECKPOINT naming `where` for an entry whose
  // row is not in its id's shard (a row_wise map saved with another shard count), duplicates,
  // negative counts, too many waiting ids for a shard.
  void check_managed_layout(int64_t t, const ManagedIdsState& whole, const std::string& where) const;
  // The part of a checked whole map that local shard j holds, its rows rebased.
  ManagedIdsState managed_part(size_t j, const ManagedIdsState& whole) const;
  // After the backward that completed `step`: every local managed shard due for a pass.
  void run_eviction_passes(int64_t step);
  // Validates on every rank, then exchanges batch sizes and verdicts: a rank whose input is bad
  // throws its own error, the others ERR_INVALID_ARGUMENT naming it, so no rank is left waiting.
  // reuse (when given): in, whether this rank can reuse the kept forward; out, whether every rank can.
  std::vector<int64_t> agree(int64_t batch_size, const std::exception_ptr& error, const char* method,
                             bool* reuse = nullptr) const;
  // Sends the global-batch `batch`'s ids of every block to the shards' owners (lengths, ids, weights).
  Received distribute_ids(const PlannedBatch& batch, std::vector<int64_t> batch_sizes, bool backward) const;
  // Table t whole on every rank: `mine` is this rank's part ([rows][width] or [rows * width], none: 0
  // rows); the parts are gathered and laid out in row order, column_wise parts side by side ([N][S *
  // width]). data_parallel: `mine` itself.
  at::Tensor gather_rows(int64_t table, at::Tensor mine, int64_t width) const;
  size_t state_index(int64_t table, const std::string& name, const char* method) const;
  // The local shard of table t on this rank (index into local_), or -1.
  int64_t local_shard(int64_t table) const;
  // The columns each shard of table t holds (embedding_dim but for column_wise).
  int64_t shard_cols(int64_t table) const;
  void write_table_part(int64_t table, const at::Tensor& whole);          // [N][D] (weights)
  void write_state_part(int64_t table, size_t index, const float* data);  // whole state tensor

  LookupPlan plan_;
  std::vector<std::optional<OptimizerSpec>> optimizers_;
  std::vector<TablePlacement> placement_;
  std::shared_ptr<ProcessGroup> group_;
  bool gradient_division_;
  uint64_t seed_;
  bool has_managed_ = false;
  int rank_ = 0;
  int world_ = 1;
  std::vector<Shard> shards_;               // every non-empty shard, table by table, in shard order
  std::vector<int64_t> table_shard_count_;  // per table: its non-empty shards
  std::vector<size_t> local_;               // indices into shards_ of this rank's shards, in that order
  // This rank's lookup: one table per local shard, one feature per block of its table, named by the
  // global block index; local_blocks_[i] is the global block of local output block i.
  std::unique_ptr<LookupPlan> local_plan_;
  std::vector<int64_t> local_blocks_;
  std::vector<size_t> local_block_shard_;  // index into shards_ of local output block i
  std::unique_ptr<TableStore> store_;
  int64_t step_ = 0;
  // The last TRAIN forward's batch (copies: the caller may refill its arrays) and what this rank
  // received for it, which its backward reuses instead of a second exchange of the ids (TorchRec keeps
  // the forward's context likewise). Not with data_parallel tables, whose backward gathers every
  // rank's ids. Any other call drops it; calls run one at a time (collective()).
  struct KeptForward {
    std::vector<std::string> keys;
    int64_t stride = 0;
    at::Tensor values;
    std::vector<int64_t> offsets;
    at::Tensor weights;
    Received received;
  };
  bool keeps_forward_ = true;  // false with a data_parallel table
  mutable std::optional<KeptForward> kept_;
};

}  // namespace torchrec::distributed
