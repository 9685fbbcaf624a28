// The id -> value hash table behind managed ids: flat open addressing (linear probing, power-of-two
// capacity, load <= 1/2), any int64 key (INT64_MIN, the free-slot marker, is kept aside). Insert and
// find only: the eviction pass rebuilds the table from scratch, so nothing is ever erased and no
// tombstones slow the probes. Key and value share a slot, so a hit costs one cache line; prefetch()
// lets a caller start the next lookups' loads while it works (the map of a big table is far larger
// than the caches). Not synchronised: finds may run in parallel, inserts are the owner's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/mix64.h"

namespace torchrec {

class ManagedIdMap {
 public:
  explicit ManagedIdMap(int64_t expected = 0) { reset(expected); }

  // Empties the table, sized for `expected` keys without growing.
  void reset(int64_t expected);

  // The value of `id`, or -1 when absent.
  int64_t find(int64_t id) const {
    if (id == kEmpty) return has_min_key_ ? min_key_value_ : -1;
    size_t slot = hash(id) & mask_;
    while (true) {
      const Slot& s = slots_[slot];
      if (s.key == id) return s.value;
      if (s.key == kEmpty) return -1;
      slot = (slot + 1) & mask_;
    }
  }

  void prefetch(int64_t id) const { __builtin_prefetch(&slots_[hash(id) & mask_]); }

  // Split lookup for pipelined loops: home() hashes once and the caller prefetches it; find_from()
  // then probes from there (same result as find()).
  size_t home(int64_t id) const { return hash(id) & mask_; }
  void prefetch_slot(size_t slot) const { __builtin_prefetch(&slots_[slot]); }
  int64_t find_from(int64_t id, size_t slot) const {
    if (id == kEmpty) return has_min_key_ ? min_key_value_ : -1;
    while (true) {
      const Slot& s = slots_[slot];
      if (s.key == id) return s.value;
      if (s.key == kEmpty) return -1;
      slot = (slot + 1) & mask_;
    }
  }

  // Sets id -> value (value >= 0), replacing an existing entry; grows when half full.
  void insert(int64_t id, int64_t value);

  int64_t size() const { return size_; }

 private:
  static constexpr int64_t kEmpty = INT64_MIN;
  static uint64_t hash(int64_t id) { return kernels::mix64(static_cast<uint64_t>(id)); }
  void grow();

  struct Slot {
    int64_t key;
    int64_t value;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int64_t size_ = 0;
  bool has_min_key_ = false;
  int64_t min_key_value_ = -1;
};

}  // namespace torchrec
