// What every module (the unsharded collection, the sharded one) checks about a table's weights and
// optimizer state before a store sees them, whatever its store: one owner for these rules.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "core/embedding_module.h"
#include "core/optimizer_spec.h"
#include "core/table_spec.h"

namespace torchrec {

// ERR_DTYPE / ERR_SHAPE unless `values` can be the table's [N][D] weights (float32, or its stored dtype).
void check_table_weights(const TableSpec& table, const at::Tensor& values, const char* method);

// The same for a row-wise quantized table of `bits`: float32 [N][D] values or uint8 [N][row bytes] stored rows.
void check_quantized_weights(const TableSpec& table, int bits, const at::Tensor& values, const char* method);

// The table's optimizer-state tensors with their shapes ([N][D] or [N]); none without an optimizer.
std::vector<StateTensorInfo> table_state_layout(const TableSpec& table, const std::optional<OptimizerSpec>& optimizer);

// Index of state `name` in the layout; ERR_INVALID_ARGUMENT naming the states the table has.
size_t table_state_index(const TableSpec& table, const std::optional<OptimizerSpec>& optimizer, const std::string& name,
                         const char* method);

// ERR_SHAPE / ERR_NON_FINITE / ERR_INVALID_ARGUMENT unless `data` can be state `index` of the table.
void check_table_state(const TableSpec& table, const OptimizerSpec& optimizer, size_t index, const float* data,
                       int64_t numel);

}  // namespace torchrec
