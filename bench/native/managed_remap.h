// The managed-id rows of torchrec_bench: the map lookups that a managed table adds to a forward
// (issue 16's "remap"), on maps holding rows - 1 residents per table, timed without Node.
//   managed  the fused kernel with every feature remapped through its table's map (an EVALUATE or
//            serving forward with managed ids), on the raw ids of the same entities
//   lookup   the map lookups alone (ManagedIds::find_batch over the batch, on every intra-op thread)
// Entity k is the raw id raw_id(k) and holds row k (admitted in order), so entity rows - 1 is not
// resident and reads the default row, rows - 1: `managed` pools the very rows that `kernel` pools
// from the plain ids, and its checksum must equal kernel's.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/managed_ids.h"

namespace bench {

// splitmix64, as bench/managed_ids.ts makes raw ids: entity k -> a well-spread 64-bit id.
int64_t raw_id(int64_t entity);

class ManagedMaps {
 public:
  ManagedMaps(int64_t tables, int64_t rows);
  const torchrec::ManagedIds& table(int64_t t) const { return *maps_[t]; }
  // The raw ids of a batch of entity ids (T*B*L, key-major).
  static std::vector<int64_t> raw_batch(const std::vector<int64_t>& entities);
  // Every id of a key-major batch (per_table ids a table) looked up, runs of 4096 spread over the
  // intra-op threads; checksum of the rows found.
  int64_t lookup_all(const std::vector<int64_t>& raw, int64_t per_table) const;

 private:
  std::vector<std::unique_ptr<torchrec::ManagedIds>> maps_;
};

}  // namespace bench
