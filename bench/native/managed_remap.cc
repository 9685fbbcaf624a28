#include "managed_remap.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace bench {

int64_t raw_id(int64_t entity) {
  uint64_t z = static_cast<uint64_t>(entity) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<int64_t>(z ^ (z >> 31));
}

ManagedMaps::ManagedMaps(int64_t tables, int64_t rows) {
  torchrec::ManagedIdsSpec spec;
  spec.eviction_interval = 1 << 30;                          // no pass during a benchmark
  at::parallel_for(0, tables, 1, [&](int64_t, int64_t) {});  // start the pool before the maps fill
  maps_.resize(static_cast<size_t>(tables));
  at::parallel_for(0, tables, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      auto m = std::make_unique<torchrec::ManagedIds>("t" + std::to_string(t), rows, spec);
      for (int64_t k = 0; k + 1 < rows; ++k) m->admit(raw_id(k), 1);
      maps_[t] = std::move(m);
    }
  });
}

std::vector<int64_t> ManagedMaps::raw_batch(const std::vector<int64_t>& entities) {
  std::vector<int64_t> raw(entities.size());
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = raw_id(entities[i]);
  return raw;
}

int64_t ManagedMaps::lookup_all(const std::vector<int64_t>& raw, int64_t per_table) const {
  constexpr int64_t kRun = 4096;  // as the fused kernel's runs (kernels/pooled_lookup_remap.cc)
  const int64_t runs_per_table = (per_table + kRun - 1) / kRun;
  const int64_t tables = static_cast<int64_t>(maps_.size());
  std::vector<int64_t> sums(static_cast<size_t>(tables * runs_per_table));
  at::parallel_for(0, tables * runs_per_table, 1, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> rows(kRun);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r / runs_per_table, first = (r % runs_per_table) * kRun;
      const int64_t n = std::min(kRun, per_table - first);
      maps_[t]->find_batch(raw.data() + t * per_table + first, true, n, rows.data());
      int64_t s = 0;
      for (int64_t i = 0; i < n; ++i) s += rows[i];
      sums[r] = s;
    }
  });
  int64_t total = 0;
  for (int64_t s : sums) total += s;
  return total;
}

}  // namespace bench
