// A table's vocabulary (the-algorithm-ml's EmbeddingBagConfig.vocab): raw 64-bit entity id -> table
// row, as a flat open-addressing hash table (linear probing, power-of-two capacity, load <= 1/2).
// Immutable once built, so lookups from many threads need no lock.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/mix64.h"

namespace torchrec {

class VocabMap {
 public:
  // Where build() found an entity id for the second time.
  struct Duplicate {
    int64_t id = 0;
    int64_t first = 0;   // position of its first occurrence in ids
    int64_t second = 0;  // position of the repeat
  };

  // Builds the map from ids[i] -> rows[i]; on a repeated id returns it in *duplicate and false.
  bool build(const int64_t* ids, const int64_t* rows, int64_t n, Duplicate* duplicate);

  // The row of `id`, or -1 when it is not in the vocabulary.
  int64_t find(int64_t id) const {
    if (id == kEmpty) return has_empty_key_ ? empty_key_row_ : -1;
    size_t slot = hash(id) & mask_;
    while (true) {
      const int64_t k = keys_[slot];
      if (k == id) return rows_[slot];
      if (k == kEmpty) return -1;
      slot = (slot + 1) & mask_;
    }
  }

  int64_t size() const { return size_; }

 private:
  static constexpr int64_t kEmpty = INT64_MIN;  // marks a free slot; the id INT64_MIN itself is kept aside
  static uint64_t hash(int64_t id) { return kernels::mix64(static_cast<uint64_t>(id)); }

  std::vector<int64_t> keys_{kEmpty};
  std::vector<int64_t> rows_{-1};
  size_t mask_ = 0;
  int64_t size_ = 0;
  bool has_empty_key_ = false;
  int64_t empty_key_row_ = -1;
};

}  // namespace torchrec
