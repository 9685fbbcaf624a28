// Managed ids (TorchRec's MCH, on CPU): one table's raw 64-bit id -> row assignment, an input stage
// of the LookupPlan like the vocabulary. Rows 0..N-2 hold admitted ids; row N-1 is the default row
// every id without a row reads. The rules (DESIGN.md "Managed ids"):
//  - admit() (TRAIN forwards, per occurrence): a resident counts the occurrence and records the step;
//    a new id takes the lowest free row if there is one; otherwise it waits (counted, default row).
//  - find() (backward, EVALUATE/INFERENCE): resident -> its row, anything else -> the default row;
//    nothing is counted.
//  - evict(step): residents and waiting ids ranked by the policy (ties: lower raw id first); the best
//    N-1 keep or take rows, the others lose them; waiting ids that get no row are dropped with their
//    counts. Returns the rows that changed hands, which the module re-initialises.
// Waiting ids are bounded (max_waiting): when the set is full a new id is not recorded (it still reads
// the default row and counts in default_row_hits and waiting_dropped); ids already waiting keep counting.
// Not synchronised: the module runs admit()/evict()/import under its write lock, find() under either.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/managed_id_map.h"
#include "core/managed_ids_spec.h"
#include "kernels/pooled_lookup_cpu.h"

namespace torchrec {

class ManagedIds {
 public:
  // ERR_INVALID_CONFIG naming `table` for a spec the rules cannot run (fewer than 2 rows, ...).
  ManagedIds(std::string table, int64_t num_embeddings, ManagedIdsSpec spec);

  const ManagedIdsSpec& spec() const { return spec_; }
  int64_t default_row() const { return num_rows_ - 1; }

  int64_t find(int64_t id) const {
    const int64_t row = resident_.find(id);
    return row < 0 ? default_row() : row;
  }
  int64_t admit(int64_t id, int64_t step);
  // The same over n ids (int64 when ids64, else int32), rows into out: software-pipelined, so the
  // map's cache misses overlap. find_batch may run on several threads at once.
  void find_batch(const void* ids, bool ids64, int64_t n, int64_t* out) const;
  void admit_batch(const void* ids, bool ids64, int64_t n, int64_t step, int64_t* out);
  // Whether a pass is due after the backward that completed `step`.
  bool pass_due(int64_t step) const { return step > 0 && step % spec_.eviction_interval == 0; }
  std::vector<int64_t> evict(int64_t step);

  ManagedIdStats stats() const;
  ManagedIdsState export_state() const;
  // Checks `state` (ERR_CHECKPOINT naming the table and entry: a row outside [0, N-1), a repeated id
  // or row, a waiting id that is also resident, negative counts, more waiting ids than the bound,
  // mismatched lengths); import_state checks, then replaces this table's state with it.
  void check_state(const ManagedIdsState& state) const;
  void import_state(const ManagedIdsState& state);

 private:
  void rebuild();  // the map and the free rows from rows_

  std::string table_;
  int64_t num_rows_;
  ManagedIdsSpec spec_;
  ManagedIdMap resident_;  // id -> row
  struct RowInfo {         // one cache line holds several: an admission touches one
    int64_t id = 0;
    int64_t count = 0;
    int64_t last = 0;
    int64_t used = 0;
  };
  std::vector<RowInfo> rows_;   // per row < N-1
  std::vector<int64_t> free_;   // free rows, descending: back() is the lowest
  ManagedIdMap waiting_index_;  // id -> index into the waiting vectors
  std::vector<int64_t> waiting_id_, waiting_count_, waiting_last_;
  int64_t residents_ = 0;
  ManagedIdStats counters_;
};

// find_batch as the pooling kernel takes it (PooledFeature::remap): lookups fused into the pooling.
// Empty for null (plain row ids).
kernels::IdRemap id_remap(const ManagedIds* managed);

}  // namespace torchrec
