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

namespace torchrec {

enum class EvictionPolicy { Lfu, Lru, DistanceLfu };

struct ManagedIdsSpec {
  EvictionPolicy policy = EvictionPolicy::Lfu;
  int64_t eviction_interval = 1;  // completed steps between passes, >= 1
  double decay_exponent = 1.0;    // distance_lfu only, finite and >= 0
  int64_t max_waiting = -1;       // waiting ids kept between passes; -1: num_embeddings
};

struct ManagedIdStats {
  int64_t residents = 0;
  int64_t waiting = 0;
  int64_t admitted = 0;          // ids given a row, ever (in forwards and in passes)
  int64_t evicted = 0;           // residents that lost their row, ever
  int64_t default_row_hits = 0;  // TRAIN-forward occurrences that read the default row
  int64_t waiting_dropped = 0;   // occurrences of new ids not recorded because the waiting set was full
};

// Everything a checkpoint carries: residents (id, row, count, last step seen), waiting ids (id,
// count, last step seen) and the counters.
struct ManagedIdsState {
  std::vector<int64_t> ids, rows, counts, last_seen;
  std::vector<int64_t> waiting_ids, waiting_counts, waiting_last_seen;
  ManagedIdStats counters;  // residents/waiting are implied by the vectors
};

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
  void rebuild();  // the map and the free rows from row_id_/row_used_

  std::string table_;
  int64_t num_rows_;
  ManagedIdsSpec spec_;
  ManagedIdMap resident_;        // id -> row
  std::vector<int64_t> row_id_;  // per row < N-1: its id, count and last step (when used)
  std::vector<int64_t> row_count_;
  std::vector<int64_t> row_last_;
  std::vector<uint8_t> row_used_;
  std::vector<int64_t> free_;   // free rows, descending: back() is the lowest
  ManagedIdMap waiting_index_;  // id -> index into the waiting vectors
  std::vector<int64_t> waiting_id_, waiting_count_, waiting_last_;
  int64_t residents_ = 0;
  ManagedIdStats counters_;
};

}  // namespace torchrec
