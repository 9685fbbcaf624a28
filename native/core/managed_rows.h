// What an eviction pass does to the rows that changed hands: each gets its initial values back (the
// table's init rule, kernels::fill_hashed of (seed, table, row, column)) and its optimizer state
// zeroed, so an id admitted to a recycled row starts exactly as if the row were fresh (TorchRec left
// such rows at zero with row-wise Adagrad). Works through the TableStore interface, so any store
// that can read and write rows and state gets it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/optimizer_spec.h"
#include "core/table_spec.h"
#include "core/table_store.h"

namespace torchrec {

// rows: ascending row numbers of the store's table `table`, which sits at `origin` in the whole
// collection (a shard's rows get the initial values of the whole table's rows). The caller holds
// the module's write lock.
void reset_managed_rows(TableStore& store, const TableSpec& spec, const std::optional<OptimizerSpec>& optimizer,
                        int64_t table, const TableOrigin& origin, uint64_t seed, const std::vector<int64_t>& rows);

}  // namespace torchrec
