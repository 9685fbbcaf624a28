// What the core needs to know about one embedding table. The TypeScript layer validates the
// user's config and hands over this reduced form; the core re-checks what memory safety depends on.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/managed_ids_spec.h"

namespace torchrec {

enum class Pooling { Sum, Mean };

struct TableSpec {
  std::string name;
  int64_t num_embeddings = 0;
  int64_t embedding_dim = 0;
  c10::ScalarType dtype = c10::ScalarType::Float;  // Float or Half; QUInt8/QUInt4x2/QUInt2x4: row-wise quantized
  Pooling pooling = Pooling::Sum;
  std::vector<std::string> feature_names;  // never empty: [] was already replaced by [name]
  double init_min = 0.0;
  double init_max = 0.0;
  std::optional<ManagedIdsSpec> managed;  // managed_collision: raw ids mapped by core/managed_ids.h
};

// Bits per code of a row-wise quantized dtype (QUInt8: int8, QUInt4x2: int4, QUInt2x4: int2); 0 otherwise.
inline int quantized_bits(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::QUInt8: return 8;
    case c10::ScalarType::QUInt4x2: return 4;
    case c10::ScalarType::QUInt2x4: return 2;
    default: return 0;
  }
}

// Throws ERR_INVALID_CONFIG naming the table and field for anything the core cannot run.
void validate_table_specs(const std::vector<TableSpec>& tables, bool is_weighted);

}  // namespace torchrec
