#include "core/managed_rows.h"

#include "core/table_state_rules.h"
#include "kernels/table_memory.h"

namespace torchrec {

void reset_managed_rows(TableStore& store, const TableSpec& spec, const std::optional<OptimizerSpec>& optimizer,
                        int64_t table, const TableOrigin& origin, uint64_t seed, const std::vector<int64_t>& rows) {
  if (rows.empty()) return;
  const int64_t dim = spec.embedding_dim;
  at::Tensor row = at::empty({1, dim}, at::kFloat);
  for (const int64_t r : rows) {
    kernels::fill_hashed(row, spec.init_min, spec.init_max, seed, origin.table, origin.first_row + r, origin.first_col);
    store.write_rows(table, r, row);  // fp16 tables round once, as their initial draw did
  }
  if (!optimizer) return;
  const auto layout = table_state_layout(spec, optimizer);
  for (size_t index = 0; index < layout.size(); ++index) {
    // The store's state interface is whole-tensor; one copy per pass keeps every store correct.
    at::Tensor state = store.read_state(table, index).contiguous();
    float* data = state.data_ptr<float>();
    const int64_t width = layout[index].shape.size() == 2 ? layout[index].shape[1] : 1;
    for (const int64_t r : rows) std::fill(data + r * width, data + (r + 1) * width, 0.0f);
    store.write_state(table, index, data, state.numel());
  }
}

}  // namespace torchrec
