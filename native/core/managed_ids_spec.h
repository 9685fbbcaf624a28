// A managed-id table's options (EmbeddingBagConfig.managed_collision), stats and checkpointed state:
// plain data, apart from core/managed_ids.h so that TableSpec and the module interface can carry them
// without every user of those depending on the map.
#pragma once

#include <cstdint>
#include <vector>

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

}  // namespace torchrec
