#include "core/managed_ids.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/table_memory.h"

namespace torchrec {
namespace {

struct Candidate {
  int64_t id;
  int64_t count;
  int64_t last;
  int64_t row;  // -1: waiting
  double score;
};

}  // namespace

ManagedIds::ManagedIds(std::string table, int64_t num_embeddings, ManagedIdsSpec spec)
    : table_(std::move(table)), num_rows_(num_embeddings), spec_(spec) {
  const char* where = "managed_collision";
  if (num_rows_ < 2) {
    fail(ErrorCode::InvalidConfig, "table \"", table_, "\": a managed table needs num_embeddings >= 2 (rows for ids ",
         "plus the default row), got ", num_rows_);
  }
  if (spec_.eviction_interval < 1) {
    fail(ErrorCode::InvalidConfig, "table \"", table_, "\": ", where, ".eviction_interval must be >= 1, got ",
         spec_.eviction_interval);
  }
  if (!std::isfinite(spec_.decay_exponent) || spec_.decay_exponent < 0) {
    fail(ErrorCode::InvalidConfig, "table \"", table_, "\": ", where, ".decay_exponent must be finite and >= 0, got ",
         spec_.decay_exponent);
  }
  if (spec_.max_waiting < 0) spec_.max_waiting = num_rows_;
  const int64_t rows = num_rows_ - 1;
  rows_.reserve(rows);  // admissions touch random rows: huge pages, as for the map
  kernels::advise_huge_pages(rows_.data(), rows * sizeof(RowInfo));
  rows_.assign(rows, RowInfo{});
  rebuild();
}

void ManagedIds::rebuild() {
  const int64_t rows = num_rows_ - 1;
  resident_.reset(rows);
  free_.clear();
  residents_ = 0;
  for (int64_t r = rows - 1; r >= 0; --r) {
    if (rows_[r].used) {
      resident_.insert(rows_[r].id, r);
      ++residents_;
    } else {
      free_.push_back(r);  // descending, so back() is the lowest free row
    }
  }
}

int64_t ManagedIds::admit(int64_t id, int64_t step) {
  int64_t row = resident_.find(id);
  if (row >= 0) {
    ++rows_[row].count;
    rows_[row].last = step;
    return row;
  }
  if (!free_.empty()) {
    row = free_.back();
    free_.pop_back();
    rows_[row].used = 1;
    rows_[row].id = id;
    rows_[row].count = 1;
    rows_[row].last = step;
    resident_.insert(id, row);
    ++residents_;
    ++counters_.admitted;
    return row;
  }
  ++counters_.default_row_hits;
  const int64_t w = waiting_index_.find(id);
  if (w >= 0) {
    ++waiting_count_[w];
    waiting_last_[w] = step;
  } else if (static_cast<int64_t>(waiting_id_.size()) < spec_.max_waiting) {
    waiting_index_.insert(id, static_cast<int64_t>(waiting_id_.size()));
    waiting_id_.push_back(id);
    waiting_count_.push_back(1);
    waiting_last_.push_back(step);
  } else {
    ++counters_.waiting_dropped;
  }
  return default_row();
}

namespace {
inline int64_t id_at(const void* ids, bool ids64, int64_t i) {
  return ids64 ? static_cast<const int64_t*>(ids)[i] : static_cast<const int32_t*>(ids)[i];
}
// Lookups in flight. Both batch loops first hash every id into `out` (a tight pass with no loads in
// its way), then probe: measured on 1M-resident maps, that split is ~25% faster than hashing inside
// the probing loop, whose longer body leaves fewer lookups in flight (bench/results/managed-ids.md).
constexpr int64_t kAhead = 32;
}  // namespace

void ManagedIds::find_batch(const void* ids, bool ids64, int64_t n, int64_t* out) const {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(resident_.home(id_at(ids, ids64, i)));
  for (int64_t i = 0; i < std::min(n, kAhead); ++i) resident_.prefetch_slot(static_cast<size_t>(out[i]));
  const int64_t dflt = default_row();
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n) resident_.prefetch_slot(static_cast<size_t>(out[i + kAhead]));
    const int64_t row = resident_.find_from(id_at(ids, ids64, i), static_cast<size_t>(out[i]));
    out[i] = row < 0 ? dflt : row;  // out[i] held id i's home slot until here
  }
}

void ManagedIds::admit_batch(const void* ids, bool ids64, int64_t n, int64_t step, int64_t* out) {
  // After the hashing pass (out[i] = id i's home slot), three stages: the map slot of id i + kAhead
  // is prefetched; id i + kProbe is probed (its slot is cached by now) and, when resident, its counters'
  // line prefetched; id i is admitted. A probe that found a row stays right until its turn (admissions
  // only add residents, and the map never grows: it is sized for every row); one that found none is
  // redone in full by admit(), since an earlier occurrence in this batch may have given the id a row.
  constexpr int64_t kProbe = kAhead / 2;
  int64_t probed[kAhead];
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(resident_.home(id_at(ids, ids64, i)));
  for (int64_t i = 0; i < std::min(n, kAhead); ++i) resident_.prefetch_slot(static_cast<size_t>(out[i]));
  const auto probe = [&](int64_t j) {
    const int64_t row = resident_.find_from(id_at(ids, ids64, j), static_cast<size_t>(out[j]));
    if (row >= 0) __builtin_prefetch(&rows_[row], 1);
    probed[j % kAhead] = row;
  };
  for (int64_t i = 0; i < std::min(n, kProbe); ++i) probe(i);
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n) resident_.prefetch_slot(static_cast<size_t>(out[i + kAhead]));
    if (i + kProbe < n) probe(i + kProbe);
    const int64_t row = probed[i % kAhead];
    if (row >= 0) {
      ++rows_[row].count;
      rows_[row].last = step;
      out[i] = row;
    } else {
      out[i] = admit(id_at(ids, ids64, i), step);
    }
  }
}

kernels::IdRemap id_remap(const ManagedIds* managed) {
  kernels::IdRemap remap;
  if (managed == nullptr) return remap;
  remap.fn = [](const void* ctx, const void* ids, bool ids64, int64_t n, int64_t* rows) {
    static_cast<const ManagedIds*>(ctx)->find_batch(ids, ids64, n, rows);
  };
  remap.ctx = managed;
  return remap;
}

std::vector<int64_t> ManagedIds::evict(int64_t step) {
  const int64_t rows = num_rows_ - 1;
  std::vector<Candidate> all;
  all.reserve(residents_ + waiting_id_.size());
  for (int64_t r = 0; r < rows; ++r) {
    if (rows_[r].used) all.push_back({rows_[r].id, rows_[r].count, rows_[r].last, r, 0.0});
  }
  for (size_t w = 0; w < waiting_id_.size(); ++w) {
    all.push_back({waiting_id_[w], waiting_count_[w], waiting_last_[w], -1, 0.0});
  }
  std::vector<int64_t> changed;
  if (spec_.policy == EvictionPolicy::DistanceLfu) {
    for (auto& c : all) {
      const double distance = static_cast<double>(std::max<int64_t>(step - c.last, 0) + 1);
      c.score = static_cast<double>(c.count) / std::pow(distance, spec_.decay_exponent);
    }
  }
  const EvictionPolicy policy = spec_.policy;
  // Best first; the lower raw id wins a tie.
  const auto better = [policy](const Candidate& a, const Candidate& b) {
    if (policy == EvictionPolicy::Lfu && a.count != b.count) return a.count > b.count;
    if (policy == EvictionPolicy::Lru && a.last != b.last) return a.last > b.last;
    if (policy == EvictionPolicy::DistanceLfu && a.score != b.score) return a.score > b.score;
    return a.id < b.id;
  };
  if (static_cast<int64_t>(all.size()) > rows) {
    std::nth_element(all.begin(), all.begin() + rows, all.end(), better);
    // The losers: residents give their rows up.
    for (auto it = all.begin() + rows; it != all.end(); ++it) {
      if (it->row < 0) continue;
      rows_[it->row].used = 0;
      changed.push_back(it->row);
      ++counters_.evicted;
    }
    all.resize(rows);
  }
  if (!waiting_id_.empty()) std::sort(all.begin(), all.end(), better);  // rows go to newcomers best first
  std::vector<int64_t> pool = free_;
  pool.insert(pool.end(), changed.begin(), changed.end());
  std::sort(pool.begin(), pool.end(), std::greater<int64_t>());  // back() is the lowest
  for (const auto& c : all) {
    if (c.row >= 0) continue;
    const int64_t row = pool.back();
    pool.pop_back();
    rows_[row].used = 1;
    rows_[row].id = c.id;
    rows_[row].count = c.count;
    rows_[row].last = c.last;
    ++counters_.admitted;
  }
  waiting_index_.reset(0);
  waiting_id_.clear();
  waiting_count_.clear();
  waiting_last_.clear();
  rebuild();
  std::sort(changed.begin(), changed.end());
  return changed;
}

ManagedIdStats ManagedIds::stats() const {
  ManagedIdStats s = counters_;
  s.residents = residents_;
  s.waiting = static_cast<int64_t>(waiting_id_.size());
  return s;
}

ManagedIdsState ManagedIds::export_state() const {
  ManagedIdsState s;
  for (int64_t r = 0; r < num_rows_ - 1; ++r) {
    if (!rows_[r].used) continue;
    s.ids.push_back(rows_[r].id);
    s.rows.push_back(r);
    s.counts.push_back(rows_[r].count);
    s.last_seen.push_back(rows_[r].last);
  }
  s.waiting_ids = waiting_id_;
  s.waiting_counts = waiting_count_;
  s.waiting_last_seen = waiting_last_;
  s.counters = stats();
  return s;
}

void ManagedIds::check_state(const ManagedIdsState& s) const {
  const auto bad = [&](auto&&... parts) {
    fail(ErrorCode::Checkpoint, "managed ids of table \"", table_, "\": ", parts...);
  };
  const size_t n = s.ids.size(), w = s.waiting_ids.size();
  if (s.rows.size() != n || s.counts.size() != n || s.last_seen.size() != n) {
    bad("ids, rows, counts and last-seen steps have different lengths (", n, ", ", s.rows.size(), ", ", s.counts.size(),
        ", ", s.last_seen.size(), ")");
  }
  if (s.waiting_counts.size() != w || s.waiting_last_seen.size() != w) {
    bad("waiting ids, counts and last-seen steps have different lengths (", w, ", ", s.waiting_counts.size(), ", ",
        s.waiting_last_seen.size(), ")");
  }
  if (static_cast<int64_t>(w) > spec_.max_waiting) {
    bad(w, " waiting ids, more than the table keeps (", spec_.max_waiting, ")");
  }
  const int64_t rows = num_rows_ - 1;
  std::vector<int64_t> owner(rows, -1);
  ManagedIdMap seen(static_cast<int64_t>(n + w));
  for (size_t i = 0; i < n; ++i) {
    if (s.rows[i] < 0 || s.rows[i] >= rows) {
      bad("entry ", i, " (id ", s.ids[i], ") maps to row ", s.rows[i], ", outside [0, ", rows,
          ") (the last row is the default row)");
    }
    if (owner[s.rows[i]] >= 0)
      bad("row ", s.rows[i], " is given to two ids (entries ", owner[s.rows[i]], " and ", i, ")");
    owner[s.rows[i]] = static_cast<int64_t>(i);
    const int64_t first = seen.find(s.ids[i]);
    if (first >= 0) bad("id ", s.ids[i], " appears twice (entries ", first, " and ", i, ")");
    seen.insert(s.ids[i], static_cast<int64_t>(i));
    if (s.counts[i] < 0 || s.last_seen[i] < 0) bad("entry ", i, " (id ", s.ids[i], ") has a negative count or step");
  }
  for (size_t i = 0; i < w; ++i) {
    if (seen.find(s.waiting_ids[i]) >= 0) bad("waiting id ", s.waiting_ids[i], " is also resident or repeated");
    seen.insert(s.waiting_ids[i], static_cast<int64_t>(n + i));
    if (s.waiting_counts[i] < 0 || s.waiting_last_seen[i] < 0) {
      bad("waiting entry ", i, " (id ", s.waiting_ids[i], ") has a negative count or step");
    }
  }
  const ManagedIdStats& c = s.counters;
  if (c.admitted < 0 || c.evicted < 0 || c.default_row_hits < 0 || c.waiting_dropped < 0) bad("a negative counter");
}

void ManagedIds::import_state(const ManagedIdsState& s) {
  check_state(s);
  const size_t n = s.ids.size(), w = s.waiting_ids.size();
  for (auto& info : rows_) info.used = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t r = s.rows[i];
    rows_[r].used = 1;
    rows_[r].id = s.ids[i];
    rows_[r].count = s.counts[i];
    rows_[r].last = s.last_seen[i];
  }
  waiting_index_.reset(static_cast<int64_t>(w));
  waiting_id_ = s.waiting_ids;
  waiting_count_ = s.waiting_counts;
  waiting_last_ = s.waiting_last_seen;
  for (size_t i = 0; i < w; ++i) waiting_index_.insert(waiting_id_[i], static_cast<int64_t>(i));
  counters_ = s.counters;
  rebuild();
}

}  // namespace torchrec
