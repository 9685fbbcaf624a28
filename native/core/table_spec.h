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
  // The ids are raw keys that another stage maps to rows later (a sharded collection's managed table:
  // the shards' owners hold the maps), so planning does not range-check them.
  bool raw_ids = false;
};

// Where a store's table sits in the whole collection: its index among the collection's tables and
// its first row and column (a row-wise shard of table `table` starts at `first_row`, a column-wise
// one at `first_col`). Initial weights depend only on (seed, table, row, column), so a shard starts
// as that part of the whole table.
struct TableOrigin {
  int64_t table = 0;
  int64_t first_row = 0;
  int64_t first_col = 0;
  // A row-wise shard's pooled bags are partial sums that the requesting rank adds up: an fp16 shard
  // leaves them in fp32, so the whole bag is rounded to fp16 once, by the requester, as in one process.
  bool partial_sums = false;
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
