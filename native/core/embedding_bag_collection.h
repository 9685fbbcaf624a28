// TorchRec's EmbeddingBagCollection (unsharded) on libtorch: one weight tensor per table, pooled
// lookups of every (table, feature) pair fused into one pass. Thread-safe: forwards share a read
// lock, anything that writes weights takes the write lock.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/keyed_jagged_tensor.h"
#include "core/table_spec.h"

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

class EmbeddingBagCollection {
 public:
  EmbeddingBagCollection(std::vector<TableSpec> tables, bool is_weighted, uint64_t seed);

  const std::vector<TableSpec>& tables() const { return tables_; }
  const std::vector<OutputBlock>& outputs() const { return outputs_; }
  bool is_weighted() const { return is_weighted_; }
  int64_t output_width() const { return output_width_; }

  // Pools `kjt` into `out`, which holds kjt.stride() * output_width() floats (row-major [B][width]).
  void forward(const KeyedJaggedTensor& kjt, float* out) const;
  at::Tensor forward(const KeyedJaggedTensor& kjt) const;

  int64_t table_index(const std::string& name) const;  // throws ERR_INVALID_ARGUMENT naming the known tables
  at::Tensor get_weights(const std::string& table) const;  // float32 [N][D] copy; fp16 tables widened
  void set_weights(const std::string& table, const float* data, int64_t numel);

 private:
  std::vector<TableSpec> tables_;
  std::vector<at::Tensor> weights_;
  std::vector<OutputBlock> outputs_;
  bool is_weighted_;
  int64_t output_width_ = 0;
  mutable std::shared_mutex mutex_;
};

}  // namespace torchrec
