#include "core/table_spec.h"

#include <cmath>
#include <unordered_set>

#include "core/error.h"

namespace torchrec {

void validate_table_specs(const std::vector<TableSpec>& tables, bool is_weighted) {
  std::unordered_set<std::string> names;
  for (size_t t = 0; t < tables.size(); ++t) {
    const TableSpec& spec = tables[t];
    const std::string where = "tables[" + std::to_string(t) + "]";
    if (spec.name.empty()) fail(ErrorCode::InvalidConfig, where, ".name: must be a non-empty string");
    if (!names.insert(spec.name).second) {
      fail(ErrorCode::InvalidConfig, where, ".name: duplicate table name \"", spec.name, "\"");
    }
    if (spec.num_embeddings <= 0) {
      fail(ErrorCode::InvalidConfig, where, ".num_embeddings: must be positive, got ", spec.num_embeddings);
    }
    if (spec.embedding_dim <= 0) {
      fail(ErrorCode::InvalidConfig, where, ".embedding_dim: must be positive, got ", spec.embedding_dim);
    }
    const int bits = quantized_bits(spec.dtype);
    if (spec.dtype != c10::ScalarType::Float && spec.dtype != c10::ScalarType::Half && bits == 0) {
      fail(ErrorCode::InvalidConfig, where, ".data_type: must be fp32, fp16, int8, int4 or int2");
    }
    if (bits > 0 && spec.embedding_dim > 0 && spec.embedding_dim % (8 / bits) != 0) {
      // Rows pack whole bytes (FBGEMM's TBE refuses other dims too).
      fail(ErrorCode::InvalidConfig, where, ".embedding_dim: an int", bits, " table packs ", 8 / bits,
           " values per byte, so its dim must be a multiple of ", 8 / bits, ", got ", spec.embedding_dim);
    }
    if (spec.feature_names.empty()) {
      fail(ErrorCode::InvalidConfig, where, ".feature_names: must not be empty");
    }
    std::unordered_set<std::string> features;
    for (const auto& feature : spec.feature_names) {
      if (feature.empty()) fail(ErrorCode::InvalidConfig, where, ".feature_names: empty feature name");
      if (!features.insert(feature).second) {
        fail(ErrorCode::InvalidConfig, where, ".feature_names: duplicate feature \"", feature, "\"");
      }
    }
    if (!std::isfinite(spec.init_min) || !std::isfinite(spec.init_max) || spec.init_min > spec.init_max) {
      fail(ErrorCode::InvalidConfig, where, ".weight_init_min/weight_init_max: need finite min <= max, got [",
           spec.init_min, ", ", spec.init_max, "]");
    }
    if (is_weighted && spec.pooling == Pooling::Mean) {
      // TorchRec raises only at forward time (nn.EmbeddingBag: per_sample_weights only for mode='sum');
      // rejecting at construction saves a training job from failing on its first batch.
      fail(ErrorCode::InvalidConfig, where,
           ".pooling: MEAN pooling cannot be used with per-value weights (isWeighted); ",
           "per-sample weights are only supported with SUM pooling");
    }
  }
}

}  // namespace torchrec
